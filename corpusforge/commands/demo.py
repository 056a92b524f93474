"""`corpusforge demo`: the whole workflow on the embedded sample, in a fresh workspace."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import typer

from corpusforge.commands._common import WorkspaceOption, fail
from corpusforge.workspace import Workspace

_MARKER = ".corpusforge-demo"


def demo(
    workspace: WorkspaceOption = None,
    seed: int = typer.Option(0, help="seed of the sample corpus"),
) -> None:
    """Run sample -> ingest -> ... on the embedded sample corpus and print a summary."""
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

    from flows.demo import demo_flow

    t0 = time.perf_counter()
    summary = demo_flow(
        str(ws.runs_dir), seed=seed, report=lambda msg: console.print(f"[bold cyan]>[/] {msg}")
    )
    seconds = time.perf_counter() - t0

    from corpusforge.audit import AuditLog

    verify = AuditLog(ws.audit_url).verify()
    ing = summary["ingest"]
    console.rule("corpusforge demo: done")
    console.print(f"workspace      {ws.root}")
    console.print(f"sample corpus  {ws.runs_dir / 'sample'}")
    console.print(
        f"documents      {ing['output']}  ({ing['out']} documents: "
        + ", ".join(f"{s} {n}" for s, n in sorted(ing["by_source"].items()))
        + f"; {ing['rejected']} rejected, {ing.get('dropped_short', 0)} too short)"
    )
    console.print(
        f"audit log      {verify.entries} entries, chain {'OK' if verify.ok else 'BROKEN'}, "
        f"head {verify.head_hash[:16]}"
    )
    console.print(f"time           {seconds:.1f} s")
    console.print(
        "Prefect UI     "
        f"PREFECT_HOME={ws.prefect_home} .venv/bin/prefect server start  "
        "# then open http://127.0.0.1:4200/runs"
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
