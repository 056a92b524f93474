"""The preference-tuning flow: PII-scrub the preference pairs, run the DPO (or reward-model)
job as a subprocess, publish its metrics, record the run.

The preference file passes through the PII stage first (`scrub_sft_jsonl`: prompt, chosen and
rejected alike; a pair is dropped whole when any of its texts trips the density policy), like the
instruction data before fine-tuning; the job trains only on the scrubbed copy, and its
checkpoints record the sha256 of the original file for lineage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from pydantic import Field

from corpusforge.core.errors import InputError
from corpusforge.core.hashing import sha256_file
from corpusforge.core.settings import StrictModel
from corpusforge.core.workspace import Workspace
from corpusforge.flows.common import audit
from corpusforge.flows.train import publish_metrics, run_job, visible_gpus
from corpusforge.model.align import AlignConfig, held_out_count
from corpusforge.pipeline.pii.config import PiiConfig

ALIGN_MODULE = "corpusforge.model.align"


class AlignParams(StrictModel):
    config: AlignConfig
    pii: PiiConfig = Field(default_factory=PiiConfig, description="PII stage settings")
    gpus: int | None = Field(None, ge=0, description="processes to start; default: visible GPUs")
    job_dir: str | None = Field(None, description="config, metrics, scrubbed pairs")


def scrub_preferences(raw: str, out_dir: Path, pii: PiiConfig) -> tuple[Path, dict[str, Any]]:
    """The PII stage on the preference file; counts only in the audit entry."""
    from corpusforge.pipeline.pii.stage import scrub_sft_jsonl  # lazy: spaCy, presidio

    if not Path(raw).is_file():
        raise InputError(f"preference file not found: {raw}")
    scrubbed = out_dir / "preferences.scrubbed.jsonl"
    result = scrub_sft_jsonl(raw, scrubbed, pii)
    audit(
        "pii.preferences",
        f"sha256:{sha256_file(raw)}",
        counts={**result["counts"], **result["entities_by_type"]},
        details={"output_sha256": sha256_file(scrubbed), "mode": pii.mode},
    )
    if not result["counts"].get("out"):
        raise InputError(f"no preference pair of {raw} is left after the PII stage")
    return scrubbed, result


@flow(name="align", log_prints=True)
def align_flow(params: AlignParams) -> dict[str, Any]:
    config = params.config
    ws = Workspace.resolve()
    directory = Path(params.job_dir) if params.job_dir else ws.run_dir("align", config.run_name)
    directory.mkdir(parents=True, exist_ok=True)
    raw_sha = sha256_file(config.data) if Path(config.data).is_file() else None
    scrubbed, pii = scrub_preferences(config.data, directory, params.pii)
    update: dict[str, Any] = {
        "data": str(scrubbed),
        "data_sha256": raw_sha,
        "checkpoint_metadata": {**config.checkpoint_metadata, "pii_scrubbed": True},
    }
    if config.metrics_path is None:
        update["metrics_path"] = str(directory / "metrics.jsonl")
    if config.storage_args.workspace is None:  # the job opens the store of this workspace
        update["storage_args"] = config.storage_args.model_copy(update={"workspace": str(ws.root)})
    config = config.model_copy(update=update)
    n = visible_gpus() if params.gpus is None else params.gpus
    run_job(ALIGN_MODULE, config.model_dump_json(indent=2), str(directory), n)
    summary = publish_metrics("align", config.run_name, directory)
    records = [
        r for r in _read_val(directory / "metrics.jsonl") if r.get("reward_accuracy") is not None
    ]
    summary.update(
        {
            "method": config.method,
            "first_reward_accuracy": records[0]["reward_accuracy"] if records else None,
            "last_reward_accuracy": records[-1]["reward_accuracy"] if records else None,
            "pairs_in": pii["counts"].get("in", 0),
            "pairs_out": pii["counts"].get("out", 0),
            "held_out_pairs": held_out_count(pii["counts"].get("out", 0), config.val_fraction),
        }
    )
    audit(
        "align.run",
        f"run:{config.run_name}",
        counts={
            "steps": summary["steps"],
            "gpus": n,
            "pairs_in": summary["pairs_in"],
            "pairs_out": summary["pairs_out"],
        },
        details={
            "method": config.method,
            "init_from": config.init_from,
            "lora": bool(config.lora),
            "beta": config.beta,
            "preference_data_sha256": raw_sha,
            "scrubbed_data_sha256": sha256_file(scrubbed),
            "first_val_loss": summary["first_val_loss"],
            "last_val_loss": summary["last_val_loss"],
            "first_reward_accuracy": summary["first_reward_accuracy"],
            "last_reward_accuracy": summary["last_reward_accuracy"],
        },
    )
    return summary


def _read_val(path: Path) -> list[dict[str, Any]]:
    from corpusforge.flows.train import read_metrics

    return [r for r in read_metrics(path) if r["kind"] == "val"]


def run_align(params: AlignParams) -> dict[str, Any]:
    """Preference-tune as a flow run: the job in a subprocess on this machine."""
    return align_flow(params)
