"""`corpusforge eval`: perplexity and lm-eval benchmarks of a stored checkpoint."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from corpusforge.commands._common import WorkspaceOption, flows_imported, use_workspace

TASKS_ENV = "CORPUSFORGE_EVAL_TASKS"


def default_task_dir(ws: Any) -> str | None:
    """$CORPUSFORGE_EVAL_TASKS, else `<workspace>/eval-tasks` when it exists."""
    if os.environ.get(TASKS_ENV):
        return os.environ[TASKS_ENV]
    folder = ws.root / "eval-tasks"
    return str(folder) if folder.is_dir() else None


def trained_on_tokens(checkpoint: str) -> str | None:
    """The token-shard folder the checkpoint (or its nearest recorded ancestor) was trained
    on, from the audit trail; None when it is not recorded or the folder is gone."""
    from corpusforge import lineage
    from corpusforge.core.audit import open_audit_log

    log = open_audit_log()
    found = next((c for c in lineage.checkpoints(log) if c["name"] == checkpoint), None)
    if not found or not found["trained_on"]:
        return None
    folder = lineage.token_dirs(log).get(found["trained_on"])
    return str(folder) if folder else None


def evaluate(
    checkpoint: str = typer.Option(..., help="stored checkpoint name, e.g. runs/x/step-0000100"),
    tasks: str = typer.Option(
        None,
        help="comma-separated lm-eval tasks (hellaswag, arc_easy, arc_challenge, mmlu, "
        "truthfulqa_mc1, truthfulqa_mc2, or a task of a *.yaml in the task folder); default: "
        "every standard benchmark with files in the task folder; 'none' for perplexity only",
    ),
    task_dir: Path = typer.Option(
        None, help=f"local task files (default ${TASKS_ENV}, else <workspace>/eval-tasks)"
    ),
    data: list[Path] = typer.Option(
        None, "--data", help="JSONL/Parquet documents: perplexity per source (repeatable)"
    ),
    tokens: Path = typer.Option(
        None, help="token shards for val-split perplexity (default: those it was trained on)"
    ),
    no_tokens: bool = typer.Option(False, "--no-tokens", help="skip the val-split perplexity"),
    max_tokens: int = typer.Option(200_000, min=1, help="tokens scored per perplexity input"),
    batch_size: int = typer.Option(8, min=1),
    limit: int = typer.Option(None, min=1, help="examples per task (quick checks only)"),
    num_fewshot: int = typer.Option(None, min=0),
    device: str = typer.Option("auto", help="auto | cpu | cuda[:N]"),
    as_json: bool = typer.Option(False, "--json", help="print the full result as JSON"),
    workspace: WorkspaceOption = None,
) -> None:
    """Evaluate a stored checkpoint as $CORPUSFORGE_TOKEN (an evaluator principal): perplexity
    on the val split and on document sets, lm-eval benchmarks from local task files."""
    ws = use_workspace(workspace)
    from corpusforge.flows.evaluate import EvalParams, result_rows, run_evaluate  # lazy: Prefect
    from corpusforge.model.evaluate import EvalConfig  # lazy: torch

    flows_imported()
    task_list = None if tasks is None else [t.strip() for t in tasks.split(",") if t.strip()]
    if task_list == ["none"]:
        task_list = []
    token_dir = None if no_tokens else (str(tokens) if tokens else trained_on_tokens(checkpoint))
    chosen_dir = str(task_dir) if task_dir else default_task_dir(ws)
    config = EvalConfig(
        checkpoint=checkpoint,
        tasks=task_list if chosen_dir or task_list else [],
        task_dir=chosen_dir,
        tokens=token_dir,
        data=[str(d) for d in data or []],
        max_tokens=max_tokens,
        batch_size=batch_size,
        limit=limit,
        num_fewshot=num_fewshot,
        device=device,
    )
    result = run_evaluate(EvalParams(config=config))
    if as_json:
        typer.echo(json.dumps(result, indent=2, sort_keys=True))
        return
    typer.echo(f"evaluation of {checkpoint} ({result['parameters']:,} parameters)")
    for row in result_rows(result):
        value = row["value"]
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        typer.echo(
            f"  {row['what']:<40} {row['source/metric']:<14} {shown:>12}  ({row['tokens/samples']})"
        )
    if not result["perplexity"] and not result["tasks"]:
        typer.echo("  nothing to score: give --tokens, --data or task files (--task-dir)")


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)
