"""`corpusforge audit lineage|erase|report`, added to the `audit` command group."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from corpusforge.commands._common import WorkspaceOption, fail, use_workspace


def add_commands(audit_app: typer.Typer) -> None:
    audit_app.command("lineage")(lineage)
    audit_app.command("erase")(erase)
    audit_app.command("report")(report)


def lineage(
    checkpoint: str | None = typer.Option(None, help="sources and counts behind a model"),
    document: str | None = typer.Option(None, help="shards and checkpoints holding a document"),
    source_uri: str | None = typer.Option(None, help="same, for every document of a source"),
    workspace: WorkspaceOption = None,
) -> None:
    """Trace a model to its sources, or a document/source to the models trained on it."""
    from corpusforge import lineage as lin  # lazy: pyarrow, SQLAlchemy
    from corpusforge.core.audit import AuditLog  # lazy: SQLAlchemy

    if sum(x is not None for x in (checkpoint, document, source_uri)) != 1:
        fail("give exactly one of --checkpoint, --document, --source-uri")
    log = AuditLog(use_workspace(workspace).audit_url)
    if checkpoint:
        result = lin.checkpoint_lineage(log, checkpoint)
    elif document:
        result = lin.document_lineage(log, document)
    else:
        result = lin.source_lineage(log, source_uri)
    typer.echo(json.dumps(result, indent=2, sort_keys=True))


def erase(
    document: list[str] | None = typer.Option(None, "--document", help="document id (repeat)"),
    source_uri: str | None = typer.Option(None, help="every document of this source"),
    token: str | None = typer.Option(
        None, "--token", envvar="CORPUSFORGE_TOKEN", help="store token allowed to mark checkpoints"
    ),
    workspace: WorkspaceOption = None,
) -> None:
    """Erasure request: rebuild the token shards without the documents, mark checkpoints."""
    from corpusforge import lineage as lin  # lazy: pyarrow, SQLAlchemy
    from corpusforge.core.audit import AuditLog  # lazy: SQLAlchemy

    ws = use_workspace(workspace)
    log = AuditLog(ws.audit_url)
    ids = list(document or [])
    if source_uri:
        ids += sorted(i for i, d in lin.document_sources(log).items() if d["uri"] == source_uri)
    if not ids:
        fail("nothing to erase: give --document ID or a --source-uri with ingested documents")
    store = None
    from corpusforge.model.store import is_initialised, open_store  # lazy: SQLAlchemy, cryptography

    if is_initialised(ws):
        store = open_store(ws, token)
        requested_by = store.principal.name  # refuses (and records) a missing or bad token
    else:
        requested_by = None
    result = lin.erase(log, ids, store=store, requested_by=requested_by)
    typer.echo(json.dumps(result, indent=2, sort_keys=True))


def report(
    out: Path = typer.Option(None, "-o", "--out", help="folder (default: workspace/reports)"),
    since: str | None = typer.Option(None, help="ISO time: first entry to include"),
    until: str | None = typer.Option(None, help="ISO time: last entry to include"),
    workspace: WorkspaceOption = None,
) -> None:
    """Write the compliance report (Markdown + HTML); print its paths and the chain status."""
    from corpusforge.core.audit import AuditLog  # lazy: SQLAlchemy
    from corpusforge.report import write_report  # lazy: pyarrow, SQLAlchemy

    ws = use_workspace(workspace)
    result = write_report(AuditLog(ws.audit_url), out or ws.root / "reports", since, until)
    typer.echo(f"report: {result['markdown']}\nreport: {result['html']}")
    typer.echo(
        f"audit chain {result['status']}: {result['entries']} entries, head {result['head_hash']}"
    )
