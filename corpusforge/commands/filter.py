"""`corpusforge filter IN -o OUT` and `corpusforge filter review OUT --sample 20 --filter NAME`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from corpusforge.commands._common import (
    AllowIncompleteOption,
    OverwriteOption,
    RunByDefaultGroup,
    WorkspaceOption,
    build_config,
    flows_imported,
    use_workspace,
)

filter_app = typer.Typer(
    cls=RunByDefaultGroup,
    help="Filter documents: language ID and published quality rules, every removal with a reason.",
    no_args_is_help=True,
)


@filter_app.command("run")
def run(
    input: Annotated[
        str, typer.Argument(help="document shards (dir, .parquet, .jsonl or s3:// fsspec URL)")
    ],
    output: Annotated[str, typer.Option("-o", "--output", help="output directory or URL")],
    languages: Annotated[
        str | None,
        typer.Option(help="comma-separated ISO 639-1 codes to keep (default en; 'all': any)"),
    ] = None,
    min_confidence: Annotated[
        float | None, typer.Option(help="minimum language confidence (default 0.65)")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
    overwrite: OverwriteOption = False,
    allow_incomplete: AllowIncompleteOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Remove low-quality and unwanted-language documents (Gopher, C4, FineWeb rules)."""
    use_workspace(workspace)
    from corpusforge.pipeline.filter.config import FilterConfig

    language: dict = {}
    if languages is not None:
        codes = [c.strip() for c in languages.split(",") if c.strip()]
        language["keep_languages"] = [] if codes == ["all"] else codes
    if min_confidence is not None:
        language["min_confidence"] = min_confidence
    config = build_config(FilterConfig, "filter", language=language)
    from corpusforge.flows.filter import FilterParams, run_filter  # lazy: Prefect

    flows_imported()
    manifest = run_filter(
        FilterParams(
            input=str(input),
            output=str(output),
            config=config,
            workers=workers,
            overwrite=overwrite,
            allow_incomplete=allow_incomplete,
        )
    )
    c = manifest["counts"]
    typer.echo(
        f"filter: {c['in']} documents in, {c['out']} out, {c['removed']} removed, "
        f"{c['rejected']} rejected -> {output}"
    )
    for reason, n in sorted(manifest.get("removed_by_rule", {}).items(), key=lambda kv: -kv[1]):
        typer.echo(f"  {reason}: {n}")


@filter_app.command("review")
def review(
    output: Annotated[Path, typer.Argument(help="a filter stage output directory")],
    sample: Annotated[int, typer.Option(help="how many removed documents")] = 20,
    filter_name: Annotated[
        str | None,
        typer.Option("--filter", help="only this filter (e.g. c4_quality) or filter.rule"),
    ] = None,
    chars: Annotated[int, typer.Option(help="characters of each document to show")] = 300,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    workspace: WorkspaceOption = None,
) -> None:
    """Show the beginning of removed documents, with the rule, value and threshold."""
    use_workspace(workspace)
    from corpusforge.pipeline.filter.stage import review_removed

    rows = review_removed(output, sample=sample, filter_name=filter_name, chars=chars, seed=seed)
    if not rows:
        typer.echo("no removed documents" + (f" for {filter_name}" if filter_name else ""))
    for r in rows:
        threshold = "" if r["threshold"] is None else f" (threshold {r['threshold']:g})"
        detail = f" [{r['detail']}]" if r["detail"] else ""
        typer.echo(
            f"--- {r['id']}  {r['source']}  {r['filter']}.{r['rule']} = {r['value']:g}"
            f"{threshold}{detail}"
        )
        typer.echo(r["text"].replace("\r", " "))


def register(app: typer.Typer) -> None:
    app.add_typer(filter_app, name="filter")
