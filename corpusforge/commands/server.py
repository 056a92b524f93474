"""`corpusforge server start|stop|status`: the workspace's background Prefect API server.

Stage commands start it on first use (unless PREFECT_API_URL names another server); these
commands start it ahead of time, show where its UI is, and stop it.
"""

from __future__ import annotations

import typer

from corpusforge.commands._common import WorkspaceOption, fail, use_workspace

server_app = typer.Typer(
    help="The workspace's Prefect API server (UI included), shared by every command.",
    no_args_is_help=True,
)


@server_app.command("start")
def start(
    idle_timeout: float | None = typer.Option(
        None,
        "--idle-timeout",
        help="Stop after this many seconds without a command using it (0: run until "
        "`corpusforge server stop`). Default: $CORPUSFORGE_SERVER_IDLE_S or 900.",
        min=0,
    ),
    workspace: WorkspaceOption = None,
) -> None:
    """Start the server in the background (or report the one already running)."""
    from corpusforge.flows import server

    ws = use_workspace(workspace)
    running = server.status(ws)
    if running is not None and server.healthy(running["api_url"]):
        typer.echo(f"already running: UI {running['ui_url']}  API {running['api_url']}")
        return
    server.ensure(ws, idle_timeout=idle_timeout)
    state = server.status(ws)
    if state is None:
        fail(f"the server stopped right after starting (see {server.log_file(ws)})")
    _show(state, "started")


@server_app.command("stop")
def stop(workspace: WorkspaceOption = None) -> None:
    """Stop the workspace's server (commands that run later start a new one)."""
    from corpusforge.flows import server

    ws = use_workspace(workspace)
    state = server.stop(ws)
    typer.echo("not running" if state is None else f"stopped (pid {state['pid']})")


@server_app.command("status")
def status(workspace: WorkspaceOption = None) -> None:
    """Say whether the server runs, and where; exit code 1 when it does not."""
    from corpusforge.flows import server

    ws = use_workspace(workspace)
    state = server.status(ws)
    if state is None:
        typer.echo(f"not running (stage commands start it; log: {server.log_file(ws)})")
        raise typer.Exit(1)
    _show(state, "running" if server.healthy(state["api_url"]) else "not answering")


def _show(state: dict, what: str) -> None:
    idle = state["idle_timeout_s"]
    stops = "until `corpusforge server stop`" if not idle else f"stops after {idle:g} s idle"
    typer.echo(
        f"{what}: UI {state['ui_url']}  API {state['api_url']}\n"
        f"  pid {state['pid']}, since {state['started_at']}, {stops}; log {state['log']}\n"
        f"  other tools: export PREFECT_API_URL={state['api_url']}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(server_app, name="server")
