"""Incremental runs over a drop folder: each run takes only the files not done before.

`<output>/ingested.jsonl` lists every source file (path, sha256, batch) of the batches that
finished. A run's batch is the set of input files whose sha256 is not listed; its outputs go to
`<output>/batches/<batch-id>/`, and dedup checks it against the persistent index that earlier
batches filled, so a document already in the corpus is removed even when it arrives again in
a new file. The batch id is a hash of the new files, so a crashed batch resumes under the same id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from corpusforge.core.hashing import sha256_file, sha256_json
from corpusforge.flows.pipeline_config import PipelineConfig
from corpusforge.pipeline.ingest.stage import HUB_PREFIX, expand_inputs

LEDGER_NAME = "ingested.jsonl"


def _ledger(config: PipelineConfig) -> Path:
    return config.output_root() / LEDGER_NAME


def done_files(config: PipelineConfig) -> set[str]:
    path = _ledger(config)
    if not path.exists():
        return set()
    return {json.loads(line)["sha256"] for line in path.read_text().splitlines() if line.strip()}


def plan_batch(config: PipelineConfig) -> tuple[list[dict[str, Any]], PipelineConfig | None]:
    """The new files and the config of their batch (None when nothing is new)."""
    done = done_files(config)
    new = []
    for f in expand_inputs(config.inputs):
        sha = sha256_json(f) if f.startswith(HUB_PREFIX) else sha256_file(f)
        if sha not in done:
            new.append({"path": f, "sha256": sha})
    if not new:
        return [], None
    batch_id = "batch-" + sha256_json(sorted(n["sha256"] for n in new))[:12]
    batch = config.model_copy(
        update={
            "inputs": [n["path"] for n in new],
            "output": str(config.output_root() / "batches" / batch_id),
            "dedup_index": config.dedup_index_dir(),
            "incremental": False,
        }
    )
    return new, batch


def record_batch(config: PipelineConfig, new: list[dict[str, Any]], batch: PipelineConfig) -> None:
    """Mark the batch's files done (after every stage of the batch finished)."""
    batch_id = Path(batch.output).name
    with open(_ledger(config), "a", encoding="utf-8") as f:
        for n in new:
            f.write(json.dumps({**n, "batch": batch_id}) + "\n")
