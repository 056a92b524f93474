"""`corpusforge demo`: the whole workflow on the embedded sample, in a fresh workspace."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from corpusforge.commands._common import WorkspaceOption, fail, flows_imported
from corpusforge.core.workspace import Workspace

_MARKER = ".corpusforge-demo"
Report = Callable[[str], None]


def demo(
    workspace: WorkspaceOption = None,
    seed: int = typer.Option(0, help="seed of the sample corpus and of sampling"),
    with_align: bool = typer.Option(
        False, "--with-align", help="add preference tuning (DPO) after fine-tuning"
    ),
) -> None:
    """Sample corpus -> ingest -> filter -> dedup -> PII -> tokenize -> pretrain -> fine-tune ->
    generate, then the model's lineage and a compliance report; `--with-align` adds DPO on
    PII-scrubbed preference pairs after fine-tuning."""
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

    t0 = time.perf_counter()
    result = run_demo(
        ws,
        seed=seed,
        report=lambda msg: console.print(f"[bold cyan]>[/] {msg}"),
        with_align=with_align,
    )
    seconds = time.perf_counter() - t0

    from corpusforge.core.audit import AuditLog  # lazy: SQLAlchemy (CLI start-up)

    verify = AuditLog.for_workspace(ws).verify()
    console.rule("corpusforge demo: done")
    console.print(f"workspace    {ws.root}")
    for stage, counts in result["stages"].items():
        shown = ", ".join(f"{k} {v}" for k, v in counts.items() if isinstance(v, int) and v)
        console.print(f"{stage:<12} {result['outputs'][stage]}  ({shown})")
    for stage, (first, last) in result["val_loss"].items():
        console.print(f"{stage:<12} validation loss {first:.2f} -> {last:.2f}")
    if aligned := result.get("align"):
        first, last = aligned["reward_accuracy"]
        console.print(
            f"{'align':<12} DPO reward accuracy {first:.2f} -> {last:.2f} on "
            f"{aligned['held_out_pairs']} held-out pairs (TRL's count: a tie is a miss, so 0 "
            f"before any update); {aligned['pairs_out']} of {aligned['pairs_in']} pairs kept "
            f"by the PII stage; {aligned['checkpoint']}"
        )
    for name, ppl in result.get("perplexity", {}).items():
        console.print(f"{'perplexity':<12} {ppl:.1f} on the val split: {name}")
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


def run_demo(
    ws: Workspace, seed: int = 0, report: Report = print, with_align: bool = False
) -> dict[str, Any]:
    """sample -> `corpus-to-model` (with the align stage when `with_align`) -> a sampled
    completion from the fine-tuned model, read back through the access-controlled store -> the
    model's lineage and a compliance report."""
    # lazy: Prefect, torch, transformers and spaCy load only when the demo runs (CLI start-up)
    from corpusforge.core.audit import AuditLog
    from corpusforge.flows.demo import DEMO_PROMPT, demo_config
    from corpusforge.flows.pipeline import run_pipeline
    from corpusforge.flows.pipeline_steps import STEPS

    flows_imported()
    from corpusforge.demo import write_sample
    from corpusforge.lineage import checkpoint_lineage
    from corpusforge.model.generate import generate
    from corpusforge.model.store import bootstrap_store, open_store
    from corpusforge.pipeline.manifest import read_manifest
    from corpusforge.report import write_report

    runs, sample = ws.runs_dir, ws.runs_dir / "sample"
    report("sample: writing the embedded corpus (WARC, Gutenberg, MediaWiki, instructions)")
    write_sample(sample, seed=seed)
    preferences = None
    if with_align:
        from corpusforge.demo.prefs import write_preferences

        report("sample: writing preference pairs (some prompts carry fake personal data)")
        preferences = write_preferences(sample, seed=seed)

    report("store: creating the master key, an admin and the trainer's service identity")
    tokens = bootstrap_store(ws)
    os.environ["CORPUSFORGE_TOKEN"] = tokens["svc:trainer"]  # the training job's identity

    config = demo_config(runs, sample, preferences)
    result = run_pipeline(config, reporter=lambda stage, event, info: report(f"{stage}: {event}"))
    stages = result["stages"]
    final = read_manifest(runs / "finetune")["checkpoint"]

    report(f"generate: sampling from {final} (read and decrypted through the store)")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    completion = generate(
        open_store(ws, tokens["svc:trainer"]), final, DEMO_PROMPT, max_new_tokens=40, seed=seed
    )
    log = AuditLog(ws.audit_url)
    lineage = checkpoint_lineage(log, final)
    compliance = write_report(log, ws.root / "reports")
    from corpusforge.flows.common import publish_report_link

    publish_report_link(compliance["html"])
    evaluated = stages["eval"]["manifest"].get("evaluations", {}) if "eval" in stages else {}
    aligned = None
    if "align" in stages:
        manifest = stages["align"]["manifest"]
        summary = manifest.get("summary", {})
        aligned = {
            "checkpoint": manifest["checkpoint"],
            "reward_accuracy": (
                summary.get("first_reward_accuracy"),
                summary.get("last_reward_accuracy"),
            ),
            "held_out_pairs": summary.get("held_out_pairs"),
            "pairs_in": summary.get("pairs_in"),
            "pairs_out": summary.get("pairs_out"),
        }
    return {
        "align": aligned,
        "stages": {name: r["manifest"].get("counts", {}) for name, r in stages.items()},
        "perplexity": {
            name: e["perplexity"]["val_split"]["perplexity"]
            for name, e in evaluated.items()
            if "val_split" in e.get("perplexity", {})
        },
        "val_loss": {
            name: (summary["first_val_loss"], summary["last_val_loss"])
            for name in ("pretrain", "finetune")
            if (summary := stages[name]["manifest"].get("summary", {})).get("last_val_loss")
        },
        "outputs": {name: str(runs / STEPS[name].dirname) for name in stages},
        "checkpoint": final,
        "prompt": DEMO_PROMPT,
        "completion": completion,
        "lineage": lineage,
        "report": compliance,
        "admin_token_file": str(_save_credential(ws, "demo-admin.token", tokens["user:admin"])),
    }


def _save_credential(ws: Workspace, name: str, token: str) -> Path:
    """The demo admin's API token, for `corpusforge store ... --token` (owner-only file; the
    store itself keeps only a salted hash)."""
    ws.keys_dir.mkdir(parents=True, exist_ok=True)
    path = ws.keys_dir / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return path


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
