"""The demo's pipeline: `corpus-to-model` on the embedded sample corpus, every stage included.

`corpusforge demo` (corpusforge/commands/demo.py) writes the sample, runs this pipeline (ingest,
dedup, PII, tokenize, pretrain, fine-tune as subflows of one parent run in the Prefect UI), then
samples a completion from the fine-tuned model and prints its lineage and a compliance report.
With `--with-align` the pipeline also preference-tunes the fine-tuned model (the align stage:
DPO through the align flow, on the PII-scrubbed pairs of corpusforge/demo/prefs.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corpusforge.flows.pipeline_config import PipelineConfig

DEMO_PROMPT = "Give one tip for keeping a garden healthy."


def align_section(preferences: Path) -> dict[str, Any]:
    """DPO on the demo's preference pairs: a few dozen steps (well under a minute on 2 cores)."""
    return {
        "data": str(preferences),
        "run_name": "demo-align",
        "max_steps": 40,
        "micro_batch_size": 8,
        "lr": 5e-4,
        "beta": 0.1,
        "warmup_steps": 4,
        "val_fraction": 0.2,
        "eval_every": 40,
        "checkpoint_every": 40,
        "log_every": 10,
        "checkpoint_metadata": {"pii_scrubbed": True},
    }


def demo_config(runs: Path, sample: Path, preferences: Path | None = None) -> PipelineConfig:
    """Small enough for 2 CPU cores in a few minutes, every stage included; with `preferences`
    (a preference JSONL file) the optional align stage too."""
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
        # both checkpoints' perplexity on the val split: before and after fine-tuning
        eval={"tasks": [], "max_tokens": 20_000},
        align=align_section(preferences) if preferences else None,
    )
