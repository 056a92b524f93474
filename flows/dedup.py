"""Dedup flow: the dedup stage job (signatures per shard -> cluster -> filter per shard, each
step resumable; see corpusforge.pipeline.dedup.stage) on the Prefect driver, then the audit
entries (removed ids in chunks) and artifacts."""

from __future__ import annotations

import hashlib
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import flow
from pydantic import Field

from corpusforge.core.settings import LocalPathOrUrl
from corpusforge.flows.common import (
    audit,
    audit_each,
    markdown_table,
    publish_markdown,
    publish_table,
    stage_cache_dir,
)
from corpusforge.flows.stage_driver import ShardStageParams, run_and_record, run_stage_flow
from corpusforge.pipeline.dedup.config import DedupConfig
from corpusforge.pipeline.dedup.stage import CLUSTERS_NAME, dedup_job
from corpusforge.pipeline.remote import (
    audit_object,
    count_units,
    describe,
    read_output_bytes,
)

_AUDIT_IDS_PER_ENTRY = 500


class DedupParams(ShardStageParams):
    config: DedupConfig = Field(default_factory=DedupConfig)
    index: LocalPathOrUrl | None = Field(
        None, description="persistent index directory (incremental dedup)"
    )


@flow(name="dedup", log_prints=True)
def dedup_flow(params: DedupParams) -> dict[str, Any]:
    job = dedup_job(
        params.input,
        params.output,
        params.config,
        stage_cache_dir("dedup"),
        index_dir=params.index,
        overwrite=params.overwrite,
        allow_incomplete=params.allow_incomplete,
    )
    return run_and_record(job, lambda manifest: _record(manifest, params.output, params))


def run_dedup(params: DedupParams) -> dict[str, Any]:
    """Run the flow on local worker processes (one per shard, up to the cores) or on Dask."""
    return run_stage_flow(
        dedup_flow,
        params,
        stage="dedup",
        inputs=[params.input],
        units=lambda: count_units(params.input),
    )


def _record(manifest: dict[str, Any], out: str, params: DedupParams) -> None:
    clusters_bytes = read_output_bytes(out, CLUSTERS_NAME)
    clusters = pq.read_table(pa.BufferReader(clusters_bytes))
    removed = clusters.filter(pc.invert(clusters["kept"]))
    ids = removed["id"].to_pylist()
    targets = removed["similar_to"].to_pylist()
    reasons = removed["reason"].to_pylist()
    step = _AUDIT_IDS_PER_ENTRY
    audit_each(
        "dedup.remove",
        [
            {
                "object": audit_object(out),
                "counts": {"removed": len(ids[lo : lo + step])},
                "details": {
                    "ids": ids[lo : lo + step],
                    "similar_to": targets[lo : lo + step],
                    "reasons": reasons[lo : lo + step],
                },
            }
            for lo in range(0, len(ids), step)
        ],
    )
    counts = manifest["counts"]
    audit(
        "dedup.run",
        audit_object(out),
        counts=counts,
        details={
            "clusters_sha256": hashlib.sha256(clusters_bytes).hexdigest(),
            "shards": [o["sha256"] for o in manifest["outputs"]],
            "threshold": params.config.threshold,
            "banding": manifest["banding"],
            "index": describe(params.index),
            "input_incomplete": manifest.get("input_incomplete", False),
        },
    )
    report = manifest["dedup"]
    publish_table(
        "dedup-largest-clusters", report["largest_clusters"], "Largest duplicate clusters"
    )
    removed_n = counts.get("exact_duplicates", 0) + counts.get("near_duplicates", 0)
    publish_markdown(
        "dedup-summary",
        "## Dedup\n\n"
        f"- documents in: {counts['in']}, kept: {counts['out']}, rejected: {counts['rejected']}\n"
        f"- removed: {removed_n} ({counts.get('exact_duplicates', 0)} exact, "
        f"{counts.get('near_duplicates', 0)} near, threshold {params.config.threshold}, "
        f"{manifest['banding']['bands']} bands x {manifest['banding']['rows']} rows)\n\n"
        "### Duplicate rate by source\n\n"
        + markdown_table(report["by_source"])
        + "\n\n### Cluster sizes\n\n"
        + markdown_table(report["cluster_sizes"])
        + "\n\n### Largest clusters\n\n"
        + markdown_table(report["largest_clusters"]),
        "Dedup summary",
    )
