"""`corpusforge dedup IN -o OUT`: exact and near-duplicate removal (MinHash LSH)."""

from __future__ import annotations

from functools import partial

import typer

from corpusforge.commands._common import (
    AllowIncompleteOption,
    OverwriteOption,
    TaskRunnerOption,
    WorkspaceOption,
    build_config,
    check_task_runner,
    flows_imported,
    use_workspace,
)
from corpusforge.pipeline.remote import single_unit


def dedup(
    input_path: str = typer.Argument(
        ..., help="directory of shards, .parquet or .jsonl file, or an s3:// (fsspec) URL"
    ),
    output: str = typer.Option(
        ..., "-o", "--output", help="output directory (or URL) for kept shards"
    ),
    threshold: float = typer.Option(0.8, help="Jaccard similarity at which a document is removed"),
    ngram: int = typer.Option(5, help="words per shingle"),
    num_perm: int = typer.Option(64, help="MinHash permutations"),
    bands: int | None = typer.Option(None, help="LSH bands (default: chosen from threshold)"),
    rows: int | None = typer.Option(None, help="rows per band (with --bands)"),
    keep: str = typer.Option("earliest", help="which duplicate is kept: earliest|longest"),
    prefer_source: list[str] = typer.Option(
        [], "--prefer-source", help="keep documents of this source first (repeatable, in order)"
    ),
    index: str | None = typer.Option(
        None,
        "--index",
        help="persistent index (directory or URL): dedup against earlier batches and extend it",
    ),
    task_runner: TaskRunnerOption = None,
    overwrite: OverwriteOption = False,
    allow_incomplete: AllowIncompleteOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Remove exact and near duplicates; write kept shards, clusters.parquet and a manifest."""
    check_task_runner(task_runner)
    use_workspace(workspace)
    from corpusforge.pipeline.dedup.config import DedupConfig  # lazy: numba, pyarrow

    config = build_config(
        DedupConfig,
        threshold=threshold,
        ngram=ngram,
        num_perm=num_perm,
        bands=bands,
        rows=rows,
        keep=keep,
        prefer_sources=prefer_source,
    )
    if task_runner in (None, "processes") and not single_unit(input_path):
        # The workers load the dedup kernels while this process imports Prefect below.
        from corpusforge.flows.workers import start_early
        from corpusforge.pipeline.dedup.signatures import warm_up

        start_early(warm_up=partial(warm_up, config))
    from corpusforge.flows.dedup import DedupParams, run_dedup  # lazy: Prefect

    flows_imported()
    manifest = run_dedup(
        DedupParams(
            input=str(input_path),
            output=str(output),
            config=config,
            index=str(index) if index else None,
            task_runner=task_runner,
            overwrite=overwrite,
            allow_incomplete=allow_incomplete,
        )
    )
    c = manifest["counts"]
    typer.echo(
        f"kept {c['out']} of {c['in']} documents in {output}: {c.get('exact_duplicates', 0)} exact "
        f"and {c.get('near_duplicates', 0)} near duplicates removed, {c['rejected']} rejected "
        f"(see {output}/clusters.parquet, rejects.jsonl)"
    )


def register(app: typer.Typer) -> None:
    app.command("dedup")(dedup)
