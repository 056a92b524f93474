"""The demo: the whole workflow on the embedded sample corpus.

sample -> `corpus-to-model` (ingest, dedup, PII, tokenize, pretrain, fine-tune as subflows of
one parent run in the Prefect UI) -> a sampled completion from the fine-tuned model, read back
through the access-controlled store -> the model's lineage and a compliance report.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from corpusforge.core.workspace import Workspace

Report = Callable[[str], None]
DEMO_PROMPT = "Give one tip for keeping a garden healthy."


def demo_config(runs: Path, sample: Path) -> Any:
    """Small enough for 2 CPU cores in a few minutes, every stage included."""
    from corpusforge.flows.pipeline import PipelineConfig

    return PipelineConfig(
        name="demo",
        inputs=[str(sample / d) for d in ("web", "books", "wiki")],
        output=str(runs),
        pii={"mode": "full"},
        tokenize={"vocab_size": 4096, "val_fraction": 0.05, "shard_tokens": 200_000},
        pretrain={
            "preset": "tiny",
            "run_name": "demo-pretrain",
            "seq_len": 128,
            "micro_batch_size": 16,
            "max_steps": 160,
            "warmup_steps": 16,
            "lr": 3e-3,
            "eval_every": 40,
            "eval_batches": 4,
            "checkpoint_every": 80,
            "log_every": 20,
            "checkpoint_metadata": {"pii_scrubbed": True},
        },
        finetune={
            "preset": "tiny",
            "data": str(sample / "sft" / "instructions.jsonl"),
            "run_name": "demo-finetune",
            "seq_len": 128,
            "micro_batch_size": 16,
            "max_steps": 40,
            "eval_every": 20,
            "checkpoint_every": 40,
            "log_every": 10,
            "checkpoint_metadata": {"pii_scrubbed": True},
        },
    )


def run_demo(ws: Workspace, seed: int = 0, report: Report = print) -> dict[str, Any]:
    from corpusforge.core.audit import AuditLog
    from corpusforge.flows.pipeline import run_pipeline
    from corpusforge.flows.pipeline_steps import STEPS
    from corpusforge.lineage import checkpoint_lineage
    from corpusforge.model.generate import generate
    from corpusforge.model.store import bootstrap_store, open_store
    from corpusforge.pipeline.manifest import read_manifest
    from corpusforge.pipeline.sample import write_sample
    from corpusforge.report import write_report

    runs, sample = ws.runs_dir, ws.runs_dir / "sample"
    report("sample: writing the embedded corpus (WARC, Gutenberg, MediaWiki, instructions)")
    write_sample(sample, seed=seed)

    report("store: creating the master key, an admin and the trainer's service identity")
    tokens = bootstrap_store(ws)
    os.environ["CORPUSFORGE_TOKEN"] = tokens["svc:trainer"]  # the training job's identity

    config = demo_config(runs, sample)
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
    return {
        "stages": {name: r["manifest"].get("counts", {}) for name, r in stages.items()},
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
