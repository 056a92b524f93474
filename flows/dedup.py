"""Dedup flow: signatures per shard (mapped, cached) -> cluster -> filter per shard (mapped).

Each step resumes: shard signatures are cached in the workspace by shard sha256 + parameters,
the cluster decisions are saved in the workspace cache with a key of the inputs, config and
index, and the index is only extended once per decision. The output is written in a staging
directory and published whole (pipeline/stage_io.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
from prefect import flow, task
from pydantic import Field

from corpusforge.core.errors import InputError
from corpusforge.core.hashing import sha256_file
from corpusforge.core.settings import StrictModel, TaskRunnerAddress
from corpusforge.flows.common import (
    Progress,
    audit,
    audit_each,
    batches,
    map_batches,
    markdown_table,
    publish_markdown,
    publish_table,
    stage_cache_dir,
    task_runner_for,
)
from corpusforge.flows.workers import compute_each, on_warm_workers
from corpusforge.pipeline.dedup.config import DedupConfig
from corpusforge.pipeline.dedup.index import DedupIndex
from corpusforge.pipeline.dedup.signatures import compute_shard
from corpusforge.pipeline.dedup.stage import (
    CLUSTERS_NAME,
    cluster_key,
    cluster_shards,
    cluster_state_dir,
    filter_shard,
    finish_run,
    load_state,
    mark_index_committed,
    save_state,
    update_index,
)
from corpusforge.pipeline.documents import list_shards
from corpusforge.pipeline.manifest import StageRun
from corpusforge.pipeline.stage_io import (
    StagedOutput,
    check_output_directory,
    prepare_document_inputs,
)

_AUDIT_IDS_PER_ENTRY = 500


class DedupParams(StrictModel):
    input: str = Field(..., description="directory of shards, .parquet or .jsonl file")
    output: str = Field(..., description="output directory for the kept documents")
    config: DedupConfig = Field(default_factory=DedupConfig)
    index: str | None = Field(None, description="persistent index directory (incremental dedup)")
    overwrite: bool = Field(False, description="replace an earlier dedup output in `output`")
    allow_incomplete: bool = Field(
        False, description="read an input directory without a complete manifest (recorded)"
    )
    task_runner: TaskRunnerAddress | None = Field(
        None, description="dask://HOST:PORT, threads, or processes"
    )


@task(task_run_name="dedup-signatures-from-{shards[0]}")
def signatures_task(shards: list[str], work_root: str, config: DedupConfig) -> list[dict[str, Any]]:
    """Signatures of a batch of shards (each cached on its own)."""
    return compute_each(compute_shard, [(s, work_root, config) for s in shards])


@task(task_run_name="dedup-cluster")
def cluster_task(
    summaries: list[dict[str, Any]], config: DedupConfig, index_dir: str | None, work_root: str
) -> dict[str, Any]:
    """Decide kept/removed for every document (resumes from saved decisions)."""
    key = cluster_key(summaries, config, index_dir)
    state_dir = cluster_state_dir(work_root, key)
    result = load_state(state_dir, key)
    resumed = result is not None
    if result is None:
        index = DedupIndex(index_dir, config) if index_dir else None
        result = cluster_shards(summaries, config, index)
        save_state(result, state_dir, key)
    if index_dir and not result.index_committed:
        size = update_index(DedupIndex(index_dir, config), summaries, result)
        mark_index_committed(state_dir, size)
    return {"state_dir": str(state_dir), "key": key, "resumed": resumed}


@task(task_run_name="dedup-filter-from-{indices[0]}")
def filter_task(
    indices: list[int], shards: list[str], state_dir: str, output: str
) -> list[list[dict[str, Any]]]:
    """The kept rows of a batch of shards (by their index in the input)."""
    calls = [
        (shards[i], i, np.load(Path(state_dir) / f"keep-{i:05d}.npy"), output) for i in indices
    ]
    return compute_each(filter_shard, calls)


@flow(name="dedup", log_prints=True)
def dedup_flow(params: DedupParams) -> dict[str, Any]:
    out = Path(params.output)
    work_root = stage_cache_dir("dedup")
    inputs = prepare_document_inputs(
        params.input, work_root, allow_incomplete=params.allow_incomplete, map_fn=on_warm_workers
    )
    shards = inputs.shards
    if out.resolve() in {Path(s).resolve().parent for s in shards}:
        raise InputError(f"{out}: output directory must differ from the input directory")
    progress = Progress(2 * len(shards) + 1, f"dedup: {len(shards)} shards")
    groups = batches(shards, os.cpu_count() or 1)
    summaries = map_batches(
        signatures_task, groups, progress, work_root=work_root, config=params.config
    )
    state = cluster_task.submit(summaries, params.config, params.index, work_root).result()
    progress.advance()
    start = 0
    index_groups = []
    for g in groups:
        index_groups.append(list(range(start, start + len(g))))
        start += len(g)
    with StagedOutput(out, "dedup", overwrite=params.overwrite) as staged:
        run = StageRun("dedup", staged.path, params.config, [params.input])
        inputs.record(run)
        per_shard = map_batches(
            filter_task,
            index_groups,
            progress,
            shards=shards,
            state_dir=state["state_dir"],
            output=str(staged.path),
        )
        outputs = [o for outs in per_shard for o in outs]
        result = load_state(state["state_dir"], state["key"])
        assert result is not None
        shutil.copyfile(Path(state["state_dir"]) / CLUSTERS_NAME, staged.path / CLUSTERS_NAME)
        run.extra["resumed_cluster"] = state["resumed"]
        manifest = finish_run(run, summaries, result, outputs)
        staged.publish()
    _record(manifest, result, out, params)
    return manifest


def run_dedup(params: DedupParams) -> dict[str, Any]:
    """Run the flow on local worker processes (one per shard, up to the cores) or on Dask."""
    check_output_directory(Path(params.output), "dedup", overwrite=params.overwrite)
    shards = list_shards(params.input)
    runner = task_runner_for(params.task_runner, workers=min(len(shards), os.cpu_count() or 1))
    return dedup_flow.with_options(task_runner=runner)(params)


def _record(manifest: dict[str, Any], result, out: Path, params: DedupParams) -> None:
    clusters = result.clusters
    removed = clusters.filter(pc.invert(clusters["kept"]))
    ids = removed["id"].to_pylist()
    targets = removed["similar_to"].to_pylist()
    reasons = removed["reason"].to_pylist()
    step = _AUDIT_IDS_PER_ENTRY
    audit_each(
        "dedup.remove",
        [
            {
                "object": f"dir:{out.resolve()}",
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
        f"dir:{out.resolve()}",
        counts=counts,
        details={
            "clusters_sha256": sha256_file(out / CLUSTERS_NAME),
            "shards": [o["sha256"] for o in manifest["outputs"]],
            "threshold": params.config.threshold,
            "banding": manifest["banding"],
            "index": str(Path(params.index).resolve()) if params.index else None,
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
