"""`corpusforge audit lineage|erase|report`, added to the `audit` command group."""

from __future__ import annotations

import json
import os
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
    log = AuditLog.for_workspace(use_workspace(workspace))
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
    """Erasure request: rebuild the token shards without the documents, mark checkpoints.

    Authorised first, acted on second, audited either way (`audit.erase`, decision allow,
    deny or error). The requester is the principal of a store token that may mark
    checkpoints (admin, auditor), never a name from the environment; without a store there
    is nobody to authenticate, so the request is refused. Only document ids of the corpus
    are accepted, and an id that looks like personal data is recorded as a keyed hash."""
    from corpusforge import lineage as lin  # lazy: pyarrow, SQLAlchemy
    from corpusforge.core.audit import AuditLog  # lazy: SQLAlchemy
    from corpusforge.core.errors import CorpusforgeError

    ws = use_workspace(workspace)
    log = AuditLog.for_workspace(ws)
    request = lin.new_request_id()

    def refuse(reason: str, actor: str = "anonymous", **details: object) -> None:
        details = {k: v for k, v in details.items() if v is not None}
        log.append(
            "audit.erase",
            f"request:{request}",
            actor=actor,
            decision="deny",
            details={"reason": reason, **details},
        )
        fail(f"erasure refused (request {request}, audited): {reason}")

    # 1. Who asks, and may they? Nothing is read from or written to the corpus before this.
    from corpusforge.model.store import is_initialised, open_store  # lazy: cryptography
    from corpusforge.model.store.policy import decide

    if not is_initialised(ws):
        refuse(
            "erasure needs an authenticated requester: initialise the store "
            "(corpusforge store init) and pass --token of a principal that may mark checkpoints"
        )
    store = None
    try:
        store = open_store(ws, token)
        principal = store.principal
    except CorpusforgeError as exc:
        claimed = store.registry.principal_of_token(token) if store is not None else None
        refuse(str(exc), claimed_principal=claimed)
    decision = decide(principal.roles, principal.clearance, "mark", None)
    if not decision.allowed:
        refuse(
            f"{principal.name} may not request erasure: {decision.reason}",
            actor=principal.name,
            token_id=principal.token_id,
        )

    # 2. What: document ids of the corpus only (never a free-form value in the trail).
    ids = list(dict.fromkeys(document or []))
    corpus = lin.document_sources(log)
    unknown = [i for i in ids if i not in corpus]
    if unknown:
        refuse(
            f"{len(unknown)} of {len(ids)} --document values are not document ids of the "
            "corpus (ids of ingested documents; see corpusforge audit lineage)",
            actor=principal.name,
            token_id=principal.token_id,
            refused_ids=[log.keyed_id(i) for i in unknown[:200]],
        )
    if source_uri:
        ids += sorted(i for i, d in corpus.items() if d["uri"] == source_uri and i not in ids)
    if not ids:
        refuse(
            "nothing to erase: give --document ID or a --source-uri with ingested documents",
            actor=principal.name,
            token_id=principal.token_id,
        )

    # 3. Act, and record the outcome (an error midway is recorded too).
    try:
        result = lin.erase(log, ids, store=store, requested_by=principal.name, request=request)
    except Exception as exc:
        log.append(
            "audit.erase",
            f"request:{request}",
            actor=principal.name,
            decision="error",
            details={"reason": f"erasure failed: {type(exc).__name__}", "documents": len(ids)},
        )
        raise
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
    result = write_report(AuditLog.for_workspace(ws), out or ws.root / "reports", since, until)
    typer.echo(f"report: {result['markdown']}\nreport: {result['html']}")
    if os.environ.get("PREFECT_API_URL"):  # a Prefect server to show it in; never start one
        from corpusforge.flows.common import publish_report_link  # lazy: Prefect

        publish_report_link(result["html"])
    typer.echo(
        f"audit chain {result['status']}: {result['entries']} entries, head {result['head_hash']}"
    )
