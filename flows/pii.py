"""PII flow: one task per input shard (mapped on worker processes), then assemble, audit,
artifacts. A rerun reuses every shard whose result is cached (same shard, config, code)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import flow
from pydantic import Field

from corpusforge.core.settings import StrictModel, TaskRunnerAddress
from corpusforge.flows.common import (
    Progress,
    audit,
    audit_each,
    batches,
    io_retrying_task,
    map_batches,
    markdown_table,
    publish_markdown,
    publish_table,
    stage_cache_dir,
    task_runner_for,
)
from corpusforge.flows.workers import compute_each, on_warm_workers
from corpusforge.pipeline.documents import list_shards
from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.stage import assemble, scrub_shard
from corpusforge.pipeline.stage_io import check_output_directory, prepare_document_inputs


class PiiParams(StrictModel):
    input: str = Field(..., description="document shards: directory, .parquet or .jsonl")
    output: str = Field(..., description="output directory for scrubbed shards")
    config: PiiConfig = Field(default_factory=PiiConfig)
    task_runner: TaskRunnerAddress | None = Field(
        None, description="dask://HOST:PORT, threads, or processes"
    )
    workers: int | None = Field(None, ge=1, description="worker processes (default: cores)")
    overwrite: bool = Field(False, description="replace an earlier pii output in `output`")
    allow_incomplete: bool = Field(
        False, description="read an input directory without a complete manifest (recorded)"
    )


@io_retrying_task("pii-from-{shards[0]}")
def scrub_shards_task(
    shards: list[str], cache_root: str, config: PiiConfig
) -> list[dict[str, Any]]:
    """A batch of shards (each cached on its own, so a rerun redoes only unfinished ones)."""
    return compute_each(scrub_shard, [(s, cache_root, config) for s in shards])


@flow(name="pii", log_prints=True)
def pii_flow(params: PiiParams) -> dict[str, Any]:
    check_output_directory(Path(params.output), "pii", overwrite=params.overwrite)
    cache_root = stage_cache_dir("pii")
    inputs = prepare_document_inputs(
        params.input, cache_root, allow_incomplete=params.allow_incomplete, map_fn=on_warm_workers
    )
    shards = inputs.shards
    progress = Progress(len(shards), f"pii: {len(shards)} shards")
    groups = batches(shards, params.workers or os.cpu_count() or 1)
    ordered = map_batches(
        scrub_shards_task, groups, progress, cache_root=cache_root, config=params.config
    )
    manifest = assemble(
        ordered, cache_root, params.output, params.config, inputs, overwrite=params.overwrite
    )
    _record(ordered, manifest, params.output)
    return manifest


def run_pii(params: PiiParams) -> dict[str, Any]:
    """Run the flow on local worker processes (one per shard, up to the cores) or on Dask."""
    shards = list_shards(params.input)
    workers = params.workers or min(len(shards), os.cpu_count() or 1)
    runner = task_runner_for(params.task_runner, workers=workers)
    return pii_flow.with_options(task_runner=runner)(params)


def _record(results: list[dict[str, Any]], manifest: dict[str, Any], output: str) -> None:
    """Audit entries and artifacts: ids, hashes and counts only."""
    audit_each(
        "pii.shard",
        [
            {
                "object": f"sha256:{r['sha256']}",
                "counts": {**r["counts"], **{f"type.{k}": v for k, v in r["by_type"].items()}},
                "details": {"path": r["path"], "cached": r.get("cached", False)},
            }
            for r in results
        ],
    )
    counts = manifest["counts"]
    by_type = manifest.get("entities_by_type", {})
    audit(
        "pii.run",
        f"dir:{Path(output).resolve()}",
        counts={**counts, **{f"type.{k}": v for k, v in by_type.items()}},
        details={
            "shards": [o["sha256"] for o in manifest["outputs"]],
            "mode": manifest["config"].get("mode"),
            "input_incomplete": manifest.get("input_incomplete", False),
            "entities_by_source": manifest.get("entities_by_source", {}),
        },
    )
    publish_table(
        "pii-entities",
        [
            {"source": s, **{t: c.get(t, 0) for t in sorted(by_type)}}
            for s, c in sorted(manifest.get("entities_by_source", {}).items())
        ],
        "PII entities removed, by source and type",
    )
    publish_markdown(
        "pii-summary",
        "## PII\n\n"
        f"- mode: {manifest['config'].get('mode')}\n"
        f"- documents in: {counts['in']}, out: {counts['out']}\n"
        f"- dropped by the density policy: {counts.get('dropped_pii_density', 0)}\n"
        f"- rejected: {counts['rejected']}\n"
        f"- shards: {counts.get('shards', 0)} ({counts.get('shards_cached', 0)} reused)\n\n"
        + markdown_table([{"type": t, "entities": n} for t, n in sorted(by_type.items())]),
        "PII summary (counts only)",
    )
