"""`corpusforge run CONFIG.yaml`: the corpus-to-model pipeline described by one YAML file."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from corpusforge.commands._common import (
    WorkspaceOption,
    check_task_runner,
    flows_imported,
    use_workspace,
)


def run(
    config: Path = typer.Argument(
        ..., help="pipeline YAML file (documented example: examples/pipeline.yaml)"
    ),
    task_runner: str | None = typer.Option(
        None,
        "--task-runner",
        help="where data-stage tasks run: processes (default), threads, or dask://HOST:PORT "
        "of a running Dask scheduler; overrides the file's task_runner",
    ),
    stages: str | None = typer.Option(
        None,
        "--stages",
        help="comma-separated subset of stages to run (e.g. pretrain,finetune); "
        "overrides the file's stages",
    ),
    force: bool = typer.Option(
        False, "--force", help="rerun every selected stage even when its output is up to date"
    ),
    workspace: WorkspaceOption = None,
) -> None:
    """Run ingest -> filter -> dedup -> PII -> tokenize -> pretrain -> fine-tune as one flow run.

    Stages whose output already exists for the same inputs, config and code version are
    skipped; a rerun after a crash redoes only what was not finished.
    """
    check_task_runner(task_runner)
    ws = use_workspace(workspace)
    from corpusforge.flows.pipeline import load_config, run_pipeline, start_workers  # lazy: Prefect

    flows_imported()

    overrides: dict = {"task_runner": task_runner}
    if stages is not None:
        overrides["stages"] = [s.strip() for s in stages.split(",") if s.strip()]
    cfg = load_config(config, overrides)
    from corpusforge.flows.pipeline_config import check_inputs

    check_inputs(cfg, str(config))
    selected = cfg.selected_stages()

    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} stages"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    overall = progress.add_task("pipeline", total=len(selected))

    def reporter(stage: str, event: str, info: dict) -> None:
        if event == "start":
            progress.update(overall, description=f"{stage}: running")
            return
        counts = info["manifest"].get("counts", {})
        note = "up to date, skipped" if event == "skipped" else f"done in {info['seconds']:.1f} s"
        progress.console.print(
            f"[green]✓[/] {stage:<9} {note}  (out {counts.get('out', '-')}, "
            f"rejected {counts.get('rejected', '-')})"
        )
        progress.advance(overall)

    t0 = time.perf_counter()
    start_workers(cfg)  # before the progress bar's thread starts
    with progress:
        result = run_pipeline(cfg, force=force, reporter=reporter)
    ran = [s for s, r in result["stages"].items() if r["status"] == "ran"]
    typer.echo(
        f"pipeline {cfg.name}: {len(ran)} stages ran, {len(selected) - len(ran)} up to date, "
        f"outputs in {result['output']} ({time.perf_counter() - t0:.1f} s; "
        f"audit log in {ws.root})"
    )


def register(app: typer.Typer) -> None:
    app.command("run")(run)
