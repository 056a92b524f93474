"""PII flow: one task per input shard (mapped on worker processes), then assemble, audit,
artifacts. A rerun reuses every shard whose result is cached (same shard, config, code)."""

from __future__ import annotations

from typing import Any

from prefect import flow
from pydantic import Field

from corpusforge.flows.common import (
    audit,
    audit_each,
    markdown_table,
    publish_markdown,
    publish_table,
    stage_cache_dir,
)
from corpusforge.flows.stage_driver import ShardStageParams, run_and_record, run_stage_flow
from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.stage import pii_job
from corpusforge.pipeline.remote import audit_object, count_units


class PiiParams(ShardStageParams):
    config: PiiConfig = Field(default_factory=PiiConfig)
    workers: int | None = Field(None, ge=1, description="worker processes (default: cores)")


@flow(name="pii", log_prints=True)
def pii_flow(params: PiiParams) -> dict[str, Any]:
    job = pii_job(
        params.input,
        params.output,
        params.config,
        stage_cache_dir("pii"),
        overwrite=params.overwrite,
        allow_incomplete=params.allow_incomplete,
    )
    return run_and_record(job, lambda manifest: _record(manifest, params.output), params.workers)


def run_pii(params: PiiParams) -> dict[str, Any]:
    """Run the flow on local worker processes (one per shard, up to the cores) or on Dask."""
    return run_stage_flow(
        pii_flow,
        params,
        stage="pii",
        inputs=[params.input],
        units=lambda: count_units(params.input),
        workers=params.workers,
    )


def _record(manifest: dict[str, Any], output: str) -> None:
    """Audit entries and artifacts: ids, hashes and counts only."""
    audit_each(
        "pii.shard",
        [
            {
                "object": f"sha256:{i['sha256']}",
                "counts": i["counts"],
                "details": {"path": i["path"], "cached": i["cached"]},
            }
            for i in manifest["inputs"]
        ],
    )
    counts = manifest["counts"]
    by_type = manifest.get("entities_by_type", {})
    audit(
        "pii.run",
        audit_object(output),
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
