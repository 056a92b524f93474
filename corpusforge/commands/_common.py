"""Options and helpers shared by CLI commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from corpusforge.settings import TASK_RUNNER_PATTERN
from corpusforge.workspace import Workspace

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        envvar="CORPUSFORGE_WORKSPACE",
        help="Workspace directory: audit log, Prefect home, store, keys, run outputs.",
        show_default="./.corpusforge",
    ),
]


def use_workspace(path: Path | None) -> Workspace:
    """Resolve and activate the workspace (sets PREFECT_HOME before Prefect is imported)."""
    return Workspace.resolve(path).activate()


def fail(message: str, code: int = 2) -> None:
    """Print a one-line reason and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def check_task_runner(value: str | None) -> str | None:
    """None, 'processes', 'threads' or dask://HOST:PORT; anything else is a one-line error."""
    if value is not None and not TASK_RUNNER_PATTERN.match(value):
        fail(f"--task-runner {value!r}: expected processes, threads or dask://HOST:PORT")
    return value
