"""`corpusforge audit verify|log`: check the tamper-evident audit chain and read it."""

from __future__ import annotations

import json

import typer

from corpusforge.commands._audit_compliance import add_commands
from corpusforge.commands._common import WorkspaceOption, use_workspace

audit_app = typer.Typer(
    help="Audit log: verify the hash chain, list entries.", no_args_is_help=True
)


@audit_app.command("verify")
def verify(workspace: WorkspaceOption = None) -> None:
    """Verify the keyed hash chain and every anchor of its head (witness file, stage and
    checkpoint manifests); name every edited, deleted, inserted or reordered entry."""
    from corpusforge.core.audit import AuditLog  # lazy: SQLAlchemy

    ws = use_workspace(workspace)
    result = AuditLog.for_workspace(ws, create=False).verify()
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if result.ok:
        anchors = ", ".join(f"{n} {k}" for k, n in result.anchors.items() if n) or "none"
        typer.echo(
            f"audit log OK: {result.entries} entries ({result.keyed} keyed, {result.legacy} "
            f"legacy), head {result.head_hash}; anchors checked: {anchors}"
        )
        return
    for problem in result.problems:
        typer.echo(f"TAMPERED: {problem}", err=True)
    typer.echo(f"error: audit log verification failed ({len(result.problems)} problems)", err=True)
    raise typer.Exit(1)


@audit_app.command("log")
def log(
    workspace: WorkspaceOption = None,
    action: str | None = typer.Option(None, help="only actions starting with this prefix"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
) -> None:
    """Print audit entries (ids, hashes and counts only)."""
    from corpusforge.core.audit import AuditLog  # lazy: SQLAlchemy

    ws = use_workspace(workspace)
    for e in AuditLog.for_workspace(ws, create=False).events(action_prefix=action):
        if as_json:
            typer.echo(json.dumps(e.__dict__, sort_keys=True))
        else:
            counts = " ".join(f"{k}={v}" for k, v in sorted(e.counts.items()))
            typer.echo(f"{e.seq:>6} {e.ts} {e.actor} {e.action} {e.object} {e.decision} {counts}")


add_commands(audit_app)  # lineage, erase, report


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
