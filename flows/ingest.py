"""Ingest flow: one task per input file (mapped), then assemble shards, audit, artifacts.

The file tasks run on threads and hand the file to the warm worker processes of
`corpusforge.flows.workers` (forked with the readers imported; they never import Prefect), unless
`task_runner` says "threads" (in the flow process) or `dask://...`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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
from corpusforge.flows.stage_driver import StageParams, run_and_record, run_stage_flow
from corpusforge.pipeline.ingest.config import IngestConfig
from corpusforge.pipeline.ingest.stage import expand_inputs, ingest_job
from corpusforge.pipeline.remote import audit_object, is_remote
from corpusforge.pipeline.stage_io import unit_count


class IngestParams(StageParams):
    inputs: list[LocalPathOrUrl] = Field(
        ..., min_length=1, description="files, directories or hf://ids"
    )
    config: IngestConfig = Field(default_factory=IngestConfig)


@flow(name="ingest", log_prints=True)
def ingest_flow(params: IngestParams) -> dict[str, Any]:
    job = ingest_job(
        params.inputs,
        params.output,
        params.config,
        stage_cache_dir("ingest"),
        overwrite=params.overwrite,
    )
    return run_and_record(job, lambda manifest: _record(manifest, params.output))


def run_ingest(params: IngestParams) -> dict[str, Any]:
    """Run the flow on the local worker processes (one per unit: a file, or a part of a
    large WARC file; up to the cores), on threads, or on Dask."""
    local = [i for i in params.inputs if not is_remote(i)]
    files = expand_inputs(local) + [i for i in params.inputs if is_remote(i)]
    return run_stage_flow(
        ingest_flow,
        params,
        stage="ingest",
        inputs=files,
        units=lambda: sum(
            unit_count(os.path.getsize(f)) if os.path.isfile(f) else 1 for f in files
        ),
    )


def _record(manifest: dict[str, Any], output: str) -> None:
    results = manifest["inputs"]
    audit_each(
        "ingest.file",
        [
            {
                "object": f"sha256:{r['sha256']}",
                "counts": {
                    "documents": r["documents"],
                    "rejected": r["rejected"],
                    "dropped_short": r["dropped_short"],
                },
                "details": {
                    "path": r["path"],
                    "format": r["format"],
                    "licenses": r["licenses"],
                    "cached": r.get("cached", False),
                },
            }
            for r in results
        ],
    )
    counts = manifest["counts"]
    audit(
        "ingest.run",
        audit_object(output),
        counts=counts,
        details={"shards": [o["sha256"] for o in manifest["outputs"]]},
    )
    rows = [
        {
            "file": Path(r["path"]).name,
            "format": r["format"],
            "documents": r["documents"],
            "rejected": r["rejected"],
            "dropped_short": r["dropped_short"],
            "cached": r.get("cached", False),
        }
        for r in results
    ]
    publish_table("ingest-files", rows, "Documents and rejects per input file")
    by_source = manifest.get("by_source", {})
    publish_markdown(
        "ingest-summary",
        "## Ingest\n\n"
        f"- files: {counts.get('files', 0)} ({counts.get('files_cached', 0)} reused from cache)\n"
        f"- documents out: {counts['out']}\n- rejected: {counts['rejected']}\n"
        f"- dropped as too short: {counts.get('dropped_short', 0)}\n\n"
        + markdown_table([{"source": s, "documents": n} for s, n in sorted(by_source.items())]),
        "Ingest summary",
    )
