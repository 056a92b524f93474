"""`corpusforge ingest INPUT... -o OUT`: source files to normalised document shards."""

from __future__ import annotations

import typer

from corpusforge.commands._common import (
    OverwriteOption,
    TaskRunnerOption,
    WorkspaceOption,
    build_config,
    check_task_runner,
    fail,
    flows_imported,
    use_workspace,
)


def ingest(
    inputs: list[str] = typer.Argument(
        ...,
        help="WARC(.gz), Gutenberg .txt/.txt.gz/.zip, MediaWiki .xml/.bz2, .jsonl/.parquet "
        "files, directories of them, s3:// (any fsspec) objects or prefixes of them, or "
        "hf://owner/name hub datasets",
    ),
    output: str = typer.Option(
        ..., "-o", "--output", help="output directory (or s3:// fsspec URL) for shards"
    ),
    min_chars: int = typer.Option(100, help="drop documents shorter than this (counted)"),
    max_doc_chars: int = typer.Option(16_000_000, help="quarantine documents longer than this"),
    extractor: str = typer.Option("resiliparse", help="HTML extractor: resiliparse|trafilatura"),
    text_field: str = typer.Option("text", help="text column of JSONL/Parquet datasets"),
    task_runner: TaskRunnerOption = None,
    strict: bool = typer.Option(False, "--strict", help="exit non-zero if anything was rejected"),
    overwrite: OverwriteOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Ingest web, book, wiki and dataset files into Parquet document shards."""
    check_task_runner(task_runner)
    use_workspace(workspace)
    from corpusforge.flows.ingest import IngestParams, run_ingest  # lazy: Prefect
    from corpusforge.pipeline.ingest.config import IngestConfig  # lazy: pydantic

    flows_imported()

    config = build_config(
        IngestConfig,
        min_chars=min_chars,
        max_doc_chars=max_doc_chars,
        web_extractor=extractor,
        text_field=text_field,
    )
    manifest = run_ingest(
        IngestParams(
            inputs=inputs,
            output=str(output),
            config=config,
            task_runner=task_runner,
            overwrite=overwrite,
        )
    )
    counts = manifest["counts"]
    typer.echo(
        f"ingested {counts['out']} documents from {counts.get('files', 0)} files into {output} "
        f"({counts['rejected']} rejected, {counts.get('dropped_short', 0)} too short)"
    )
    for r in _rejects(output):
        typer.echo(f"rejected: {r['file']} @ {r.get('position')}: {r['reason']}", err=True)
    if strict and counts["rejected"]:
        fail(f"{counts['rejected']} inputs rejected (--strict); see {output}/rejects.jsonl", 1)


def _rejects(output: str) -> list[dict]:
    from corpusforge.pipeline.remote import read_rejects  # lazy: pydantic, fsspec

    return read_rejects(output)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
