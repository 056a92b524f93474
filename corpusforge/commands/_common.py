"""Options and helpers shared by CLI commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

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


TaskRunnerOption = Annotated[
    str | None,
    typer.Option(
        "--task-runner",
        help="where tasks run: local processes (default), 'threads', or dask://HOST:PORT",
    ),
]

C = TypeVar("C")


class RunByDefaultGroup(typer.core.TyperGroup):
    """A command group whose `run` subcommand is also the group itself: `pii IN -o OUT` is
    `pii run IN -o OUT`, while `pii review ...` stays a subcommand."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands:
            args = ["run", *args]
        return super().resolve_command(ctx, args)


def build_config(cls: type[C], what: str = "", **values: Any) -> C:
    """`cls(**values)` from command options; an invalid value is a one-line error naming the
    option (never echoing the value)."""
    from pydantic import ValidationError

    from corpusforge.core.settings import validation_message

    try:
        return cls(**values)
    except ValidationError as exc:
        fail(f"invalid {what + ' ' if what else ''}option: {validation_message(exc, cls)}")
        raise  # unreachable: fail() exits


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
