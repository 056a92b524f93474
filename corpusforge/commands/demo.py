"""`corpusforge demo`: the whole workflow on the embedded sample, in a fresh workspace."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import typer

from corpusforge.commands._common import WorkspaceOption, fail, flows_imported
from corpusforge.core.workspace import Workspace

_MARKER = ".corpusforge-demo"


def demo(
    workspace: WorkspaceOption = None,
    seed: int = typer.Option(0, help="seed of the sample corpus and of sampling"),
) -> None:
    """Sample corpus -> ingest -> dedup -> PII -> tokenize -> pretrain -> fine-tune -> generate,
    then the model's lineage and a compliance report."""
    from rich.console import Console

    console = Console()
    # A fresh workspace: default ./.corpusforge/demo; a previous demo there is replaced.
    root = Path(workspace) if workspace else Workspace.resolve().root / "demo"
    if root.exists() and any(root.iterdir()):
        if not (root / _MARKER).exists():
            fail(f"{root} is not empty and not a previous demo workspace; choose another")
        shutil.rmtree(root)
    ws = Workspace(root.resolve()).activate()
    (ws.root / _MARKER).write_text("created by corpusforge demo\n")

    from corpusforge.flows.demo import run_demo

    flows_imported()

    t0 = time.perf_counter()
    result = run_demo(ws, seed=seed, report=lambda msg: console.print(f"[bold cyan]>[/] {msg}"))
    seconds = time.perf_counter() - t0

    from corpusforge.core.audit import AuditLog

    verify = AuditLog(ws.audit_url).verify()
    console.rule("corpusforge demo: done")
    console.print(f"workspace    {ws.root}")
    for stage, counts in result["stages"].items():
        shown = ", ".join(f"{k} {v}" for k, v in counts.items() if isinstance(v, int) and v)
        console.print(f"{stage:<12} {result['outputs'][stage]}  ({shown})")
    for stage, (first, last) in result["val_loss"].items():
        console.print(f"{stage:<12} validation loss {first:.2f} -> {last:.2f}")
    console.print(f"checkpoint   {result['checkpoint']} (encrypted store: {ws.store_dir})")
    console.print(f"prompt       {result['prompt']}")
    console.print(f"completion   {result['completion']!r}")
    lineage = result["lineage"]
    console.print(
        f"lineage      {lineage['documents']} documents in {len(lineage['shards'])} token shards, "
        "by source: " + ", ".join(f"{s} {n}" for s, n in sorted(lineage["by_source"].items()))
    )
    for src in lineage["sources"]:
        licenses = "; ".join(src["licenses"]) or "licence unknown"
        console.print(f"             {src['documents']:>4}  {src['uri']}  ({licenses})")
    console.print(f"report       {result['report']['markdown']}")
    console.print(f"             {result['report']['html']}")
    console.print(
        f"audit log    {verify.entries} entries, chain {'verified' if verify.ok else 'BROKEN'}, "
        f"head {verify.head_hash[:16]}"
    )
    console.print(f"admin token  {result['admin_token_file']} (for `corpusforge store ...`)")
    console.print(f"time         {seconds:.0f} s")
    console.print(
        f"Prefect UI   PREFECT_HOME={ws.prefect_home} .venv/bin/prefect server start\n"
        "             then open http://127.0.0.1:4200/runs (flow run 'corpus-to-model')"
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
