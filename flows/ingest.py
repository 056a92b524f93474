"""Ingest flow: one task per input file (mapped), then assemble shards, audit, artifacts.

By default the file tasks run on threads of the flow process, each handing its file to a pool
of plain worker processes that the run starts before the flow begins: the workers import the
readers while the flow run is being created, and never import Prefect (a Prefect process-pool
worker imports Prefect and runs a task engine: seconds of start-up per worker on every run).
`task_runner` "threads" ingests in the flow process; `dask://...` on a Dask cluster.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from prefect import flow
from pydantic import BaseModel, Field

from flows.common import (
    Progress,
    audit,
    io_retrying_task,
    map_in_order,
    markdown_table,
    publish_markdown,
    publish_table,
    stage_cache_dir,
    task_runner_for,
)
from pipeline.ingest.config import IngestConfig
from pipeline.ingest.stage import assemble, expand_inputs, ingest_file


class IngestParams(BaseModel):
    inputs: list[str] = Field(..., min_length=1, description="files, directories or hf://ids")
    output: str = Field(..., description="output directory for document shards")
    config: IngestConfig = Field(default_factory=IngestConfig)
    task_runner: str | None = Field(None, description="dask://HOST:PORT, threads, or processes")


# The worker processes of the run in progress (set by run_ingest); None: work in the task.
_workers: ProcessPoolExecutor | None = None


@io_retrying_task("ingest-{path}")
def ingest_file_task(path: str, cache_root: str, config: IngestConfig) -> dict[str, Any]:
    if _workers is None:
        return ingest_file(path, cache_root, config)
    return _workers.submit(ingest_file, path, cache_root, config).result()


@contextlib.contextmanager
def worker_processes(n: int) -> Iterator[ProcessPoolExecutor]:
    """`n` fresh worker processes (spawned: nothing of the flow process's threads is
    inherited) for one run, started at once so their imports overlap the flow's set-up."""
    global _workers
    ctx = multiprocessing.get_context("spawn")
    # The initializer must not live in this module: unpickling it would import Prefect.
    warm = {"initializer": importlib.import_module, "initargs": ("pipeline.ingest.readers",)}
    with ProcessPoolExecutor(n, mp_context=ctx, **warm) as pool:
        for _ in range(n):  # each submit starts one more worker while none is idle
            pool.submit(int)
        _workers = pool
        try:
            yield pool
        finally:
            _workers = None


@flow(name="ingest", log_prints=True)
def ingest_flow(params: IngestParams) -> dict[str, Any]:
    files = expand_inputs(params.inputs)
    cache_root = stage_cache_dir("ingest")
    progress = Progress(len(files), f"ingest: {len(files)} files")
    ordered = map_in_order(
        ingest_file_task, files, progress, cache_root=cache_root, config=params.config
    )
    manifest = assemble(ordered, cache_root, params.output, params.config, files)
    _record(ordered, manifest, params.output)
    return manifest


def run_ingest(params: IngestParams) -> dict[str, Any]:
    """Run the flow on local worker processes (one per file, up to the cores), on threads, or
    on Dask."""
    files = expand_inputs(params.inputs)
    workers = min(len(files), os.cpu_count() or 1)
    if params.task_runner not in (None, "processes"):
        runner = task_runner_for(params.task_runner, workers=workers)
        return ingest_flow.with_options(task_runner=runner)(params)
    with worker_processes(workers):
        runner = task_runner_for("threads", workers=workers)
        return ingest_flow.with_options(task_runner=runner)(params)


def _record(results: list[dict[str, Any]], manifest: dict[str, Any], output: str) -> None:
    for r in results:
        audit(
            "ingest.file",
            f"sha256:{r['sha256']}",
            counts={
                "documents": r["documents"],
                "rejected": r["rejected"],
                "dropped_short": r["dropped_short"],
            },
            details={
                "path": r["path"],
                "format": r["format"],
                "licenses": r["licenses"],
                "cached": r.get("cached", False),
            },
        )
    counts = manifest["counts"]
    audit(
        "ingest.run",
        f"dir:{Path(output).resolve()}",
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
