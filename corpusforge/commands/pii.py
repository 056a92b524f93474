"""`corpusforge pii IN -o OUT [--mode fast|full]` and `corpusforge pii review IN --sample 20`."""

from __future__ import annotations

import json
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

pii_app = typer.Typer(
    cls=RunByDefaultGroup,
    help="Remove PII: `pii IN -o OUT` scrubs document shards, `pii review IN` spot-checks.\n\n"
    "corpusforge pii IN -o OUT [--mode fast|full] is the same as `pii run IN -o OUT` (every "
    "option: `corpusforge pii run --help`). Presidio recognizers, typed placeholders, audit.",
    subcommand_metavar="IN -o OUT | COMMAND [ARGS]...",
    no_args_is_help=True,
)


@pii_app.command("run")
def run(
    input: Annotated[
        str, typer.Argument(help="document shards (dir, .parquet, .jsonl or s3:// fsspec URL)")
    ],
    output: Annotated[str, typer.Option("-o", "--output", help="output directory or URL")],
    mode: Annotated[str, typer.Option(help="fast (patterns) or full (patterns + NER)")] = "full",
    spacy_model: Annotated[str | None, typer.Option(help="spaCy model for NER")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
    sft: Annotated[
        bool, typer.Option("--sft", help="input is instruction JSONL (prompt/response, messages)")
    ] = False,
    overwrite: OverwriteOption = False,
    allow_incomplete: AllowIncompleteOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Scrub PII from document shards (or instruction data with --sft)."""
    use_workspace(workspace)
    from corpusforge.pipeline.pii.config import PiiConfig  # lazy: spaCy, presidio

    config = build_config(
        PiiConfig, "PII", mode=mode, **({"spacy_model": spacy_model} if spacy_model else {})
    )
    if sft:
        from corpusforge.flows.common import audit  # lazy: Prefect
        from corpusforge.pipeline.pii.stage import scrub_sft_jsonl  # lazy: spaCy, presidio

        stats = scrub_sft_jsonl(input, output, config)
        audit("pii.sft", f"file:{Path(output).resolve()}", counts=stats["counts"])
        typer.echo(json.dumps(stats, sort_keys=True))
        return
    from corpusforge.flows.pii import PiiParams, run_pii  # lazy: Prefect

    flows_imported()

    manifest = run_pii(
        PiiParams(
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
        f"pii: {c['in']} documents in, {c['out']} out, {c.get('dropped_pii_density', 0)} dropped "
        f"(PII density), {c['rejected']} rejected -> {output}"
    )
    for t, n in sorted(manifest.get("entities_by_type", {}).items()):
        typer.echo(f"  {t}: {n}")


@pii_app.command("review")
def review(
    input: Annotated[Path, typer.Argument(help="scrubbed shards")],
    sample: Annotated[int, typer.Option(help="how many placeholder contexts")] = 20,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    workspace: WorkspaceOption = None,
) -> None:
    """Print placeholders with 60 characters either side (after redaction) for spot checks."""
    use_workspace(workspace)
    from corpusforge.pipeline.pii.review import review_contexts  # lazy: spaCy, presidio

    for doc_id, placeholder, context in review_contexts(input, sample=sample, seed=seed):
        typer.echo(f"{doc_id}\t{placeholder}\t{context}")


def register(app: typer.Typer) -> None:
    app.add_typer(pii_app, name="pii")
