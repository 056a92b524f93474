"""Options and helpers shared by CLI commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from corpusforge.core.console import quiet_console_tracebacks, use_log_file
from corpusforge.core.settings import TASK_RUNNER_PATTERN
from corpusforge.core.workspace import Workspace

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        envvar="CORPUSFORGE_WORKSPACE",
        help="Workspace directory: audit log, Prefect home, store, keys, run outputs.",
        show_default="./.corpusforge",
    ),
]


OverwriteOption = Annotated[
    bool,
    typer.Option(
        "--overwrite", help="Replace this stage's earlier output in the output directory."
    ),
]
AllowIncompleteOption = Annotated[
    bool,
    typer.Option(
        "--allow-incomplete",
        help="Read an input directory that has no complete manifest (recorded in the audit).",
    ),
]


def use_workspace(path: Path | None) -> Workspace:
    """Resolve and activate the workspace (sets PREFECT_HOME before Prefect is imported);
    this process's full log, tracebacks included, goes to the workspace's logs/."""
    ws = Workspace.resolve(path).activate()
    use_log_file(ws.root / "logs")
    return ws


def flows_imported() -> None:
    """Call once a command has imported its flows (and so Prefect): failed runs then show
    one line on the console, their tracebacks only in the workspace log."""
    quiet_console_tracebacks()


def fail(message: str, code: int = 2) -> None:
    """Print a one-line reason and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def check_task_runner(value: str | None) -> str | None:
    """None, 'processes', 'threads' or dask://HOST:PORT; anything else is a one-line error."""
    if value is not None and not TASK_RUNNER_PATTERN.match(value):
        fail(f"--task-runner {value!r}: expected processes, threads or dask://HOST:PORT")
    return value
