"""The dedup stage: signatures per shard -> cluster (one process, ids and numbers only) ->
filter per shard, as one stage job (`dedup_job`; see corpusforge.pipeline.stage).

Each step resumes: shard signatures are cached by shard sha256 + parameters, the cluster
decisions are saved in the cache under a key of the inputs, config and index, and the index is
extended once per decision.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpusforge.core.errors import InputError, IntegrityError
from corpusforge.core.hashing import sha256_json
from corpusforge.pipeline.dedup.cluster import NOT_REMOVED, band_groups, decide
from corpusforge.pipeline.dedup.config import DedupConfig
from corpusforge.pipeline.dedup.index import DedupIndex
from corpusforge.pipeline.dedup.parts import Part, SignatureStore
from corpusforge.pipeline.dedup.signatures import NO_SIGNATURE, compute_shard, warm_up
from corpusforge.pipeline.documents import ShardWriter, iter_shard_batches, shard_name
from corpusforge.pipeline.manifest import Reject, StageRun, write_json_atomic
from corpusforge.pipeline.remote import document_stage
from corpusforge.pipeline.stage import JobSteps, Single, StageJob, Units, unit_names, unit_sizes
from corpusforge.pipeline.stage_io import (
    StagedOutput,
    check_output_directory,
    default_cache_root,
    document_inputs,
)

CLUSTERS_NAME = "clusters.parquet"
CLUSTERS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("cluster_id", pa.string()),
        ("kept", pa.bool_()),
        ("reason", pa.string()),
        ("similar_to", pa.string()),
        ("similarity", pa.float64()),
    ]
)
_HISTOGRAM_BINS = ((1, 1), (2, 2), (3, 5), (6, 10), (11, 100), (101, None))


@dataclass
class ClusterResult:
    keep_rows: list[np.ndarray]  # per shard: sorted row numbers to keep
    index_rows: list[tuple[np.ndarray, np.ndarray]]  # per shard: (signature rows, rows) kept
    clusters: pa.Table
    rejects: list[Reject]
    counts: Counter = field(default_factory=Counter)
    report: dict[str, Any] = field(default_factory=dict)
    index_committed: bool = False


def _load_shard_docs(summaries: list[dict[str, Any]]) -> pa.Table:
    tables = []
    for i, s in enumerate(summaries):
        t = Part(s["work_dir"]).docs()
        tables.append(t.append_column("shard", pa.array(np.full(t.num_rows, i), pa.int64())))
    return pa.concat_tables(tables)


def _priority(docs: pa.Table, config: DedupConfig) -> np.ndarray:
    """Document positions in keep-first order (source preference, policy, input order)."""
    n = docs.num_rows
    pref = np.full(n, len(config.prefer_sources), dtype=np.int64)
    sources = docs["source"].to_numpy(zero_copy_only=False)
    for k, src in enumerate(config.prefer_sources):
        pref[sources == src] = np.minimum(pref[sources == src], k)
    length = -docs["length"].to_numpy() if config.keep == "longest" else np.zeros(n, np.int64)
    return np.lexsort((np.arange(n), length, pref))


def cluster_shards(
    summaries: list[dict[str, Any]], config: DedupConfig, index: DedupIndex | None = None
) -> ClusterResult:
    """Decide, for every document of every shard, whether it is kept and why."""
    docs = _load_shard_docs(summaries)
    n = docs.num_rows
    ids = docs["id"].to_numpy(zero_copy_only=False)
    shard = docs["shard"].to_numpy()
    row = docs["row"].to_numpy()
    sig_row = docs["sig_row"].to_numpy()
    content = docs["content"].to_numpy()
    counts: Counter = Counter(documents=n)
    rejects: list[Reject] = []

    def reject(mask: np.ndarray, reason_of) -> None:
        for d in np.flatnonzero(mask).tolist():
            rejects.append(
                Reject(file=summaries[shard[d]]["shard"], position=int(row[d]), reason=reason_of(d))
            )

    empty = sig_row == NO_SIGNATURE
    reject(empty, lambda d: "empty text (nothing left after normalisation)")
    counts["rejected_empty"] = int(empty.sum())
    # Duplicate ids: the first occurrence (input order) is processed, later ones quarantined.
    codes = docs["id"].dictionary_encode().combine_chunks().indices.to_numpy()
    _, first = np.unique(codes, return_index=True)
    dup_id = np.ones(n, dtype=bool)
    dup_id[first] = False
    reject(dup_id & ~empty, lambda d: f"duplicate id {ids[d]!r} (an earlier row has it)")
    counts["rejected_duplicate_id"] = int((dup_id & ~empty).sum())
    index_docs = index.docs() if index is not None else None
    in_index = np.zeros(n, dtype=bool)
    if index_docs is not None and index_docs.num_rows:
        in_index = pc.is_in(docs["id"], value_set=index_docs["id"]).to_numpy(zero_copy_only=False)
        in_index &= ~empty & ~dup_id
        reject(in_index, lambda d: f"id {ids[d]!r} is already in the dedup index")
    counts["rejected_in_index"] = int(in_index.sum())
    valid = ~empty & ~dup_id & ~in_index

    order = _priority(docs, config)
    order = order[valid[order]]

    # Exact duplicates: same normalised content; the first in priority order represents them.
    by_content = order[np.argsort(content[order], kind="stable")]
    c_sorted = content[by_content]
    run_start = np.ones(c_sorted.size, dtype=bool)
    run_start[1:] = c_sorted[1:] != c_sorted[:-1]
    rep_of = np.full(n, -1, dtype=np.int64)
    rep_of[by_content] = by_content[
        np.maximum.accumulate(np.where(run_start, np.arange(run_start.size), 0))
    ]
    is_rep = np.zeros(n, dtype=bool)
    is_rep[by_content[run_start]] = True

    n_fixed = index.size if index is not None else 0
    index_ids = index_docs["id"].to_numpy(zero_copy_only=False) if n_fixed else np.array([], object)
    index_titles = index_docs["title"].to_numpy(zero_copy_only=False) if n_fixed else index_ids
    index_match = np.full(n, -1, dtype=np.int64)  # rep -> index document with the same content
    if n_fixed:
        ic = index_docs["content"].to_numpy()
        ic_order = np.argsort(ic, kind="stable")
        pos = np.searchsorted(ic[ic_order], content, side="left").clip(0, n_fixed - 1)
        hit = is_rep & (ic[ic_order][pos] == content)
        index_match[hit] = ic_order[pos[hit]]

    reps = order[is_rep[order] & (index_match[order] < 0)]  # new documents for LSH, by priority
    universe_size = n_fixed + reps.size
    part_list = list(index.parts) if index is not None else []
    part_of = np.empty(universe_size, dtype=np.int64)
    row_of = np.empty(universe_size, dtype=np.int64)
    k = 0
    for p, part in enumerate(part_list):
        size = part.signatures.shape[0]
        part_of[k : k + size], row_of[k : k + size] = p, np.arange(size)
        k += size
    shard_parts = [Part(s["work_dir"]) for s in summaries]
    part_of[n_fixed:] = len(part_list) + shard[reps]
    row_of[n_fixed:] = sig_row[reps]
    store = SignatureStore(part_list + shard_parts, part_of, row_of)

    bands, _ = config.banding()

    def band_keys(j: int) -> np.ndarray:
        keys = np.empty(universe_size, dtype=np.uint64)
        for p, part in enumerate(store.parts):
            sel = np.flatnonzero(part_of == p)
            if sel.size:
                keys[sel] = np.asarray(part.bands[j])[row_of[sel]]
        return keys

    decisions = decide(
        universe_size,
        n_fixed,
        (band_groups(band_keys(j)) for j in range(bands)),
        config.threshold,
        store.jaccard,
        lambda u, vs: (store.signatures(vs) == store.signature(u)).mean(axis=1),
        config.prefilter_margin,
    )
    counts["candidates_checked"] = decisions.candidates_checked
    counts["exact_jaccard_checks"] = decisions.exact_checks

    def universe_id(u: int) -> str:
        return str(index_ids[u]) if u < n_fixed else str(ids[reps[u - n_fixed]])

    # Resolve every valid document to (kept?, reason, similar_to, similarity).
    universe_of_doc = np.full(n, -1, dtype=np.int64)
    universe_of_doc[reps] = np.arange(reps.size) + n_fixed
    similar_to: list[str | None] = [None] * n
    similarity = np.zeros(n)
    reason = np.full(n, "", dtype=object)
    kept = np.zeros(n, dtype=bool)
    cluster_size: Counter = Counter()
    for d in order.tolist():
        r = int(rep_of[d])
        if index_match[r] >= 0:
            target, sim, why = int(index_match[r]), 1.0, "exact_duplicate"
        else:
            u = int(universe_of_doc[r])
            near = int(decisions.similar_to[u])
            if near == NOT_REMOVED:
                target, sim, why = (None, 0.0, "") if d == r else (u, 1.0, "exact_duplicate")
            else:
                target, sim, why = near, float(decisions.similarity[u]), "near_duplicate"
        if target is None:
            kept[d] = True
            continue
        similar_to[d], similarity[d], reason[d] = universe_id(target), sim, why
        cluster_size[similar_to[d]] += 1
    for d in np.flatnonzero(kept).tolist():
        reason[d] = "kept" if cluster_size.get(str(ids[d])) else "unique"

    valid_docs = order
    cluster_id = [similar_to[d] or str(ids[d]) for d in valid_docs.tolist()]
    clusters = pa.table(
        {
            "id": pa.array(ids[valid_docs].tolist(), pa.string()),
            "cluster_id": pa.array(cluster_id, pa.string()),
            "kept": pa.array(kept[valid_docs]),
            "reason": pa.array(reason[valid_docs].tolist(), pa.string()),
            "similar_to": pa.array([similar_to[d] for d in valid_docs.tolist()], pa.string()),
            "similarity": pa.array(similarity[valid_docs]),
        },
        schema=CLUSTERS_SCHEMA,
    )
    removed = valid & ~kept
    counts["kept"] = int(kept.sum())
    counts["exact_duplicates"] = int((reason == "exact_duplicate").sum())
    counts["near_duplicates"] = int((reason == "near_duplicate").sum())
    keep_rows = [np.sort(row[kept & (shard == i)]) for i in range(len(summaries))]

    new_kept = np.flatnonzero(decisions.similar_to[n_fixed:] == NOT_REMOVED)
    new_kept_docs = reps[new_kept]
    index_rows = [
        (sig_row[new_kept_docs[m]], row[new_kept_docs[m]])
        for m in (shard[new_kept_docs] == i for i in range(len(summaries)))
    ]

    titles = docs["title"].to_numpy(zero_copy_only=False)
    title_of = {str(ids[d]): titles[d] for d in np.flatnonzero(kept).tolist()}
    if n_fixed:
        title_of.update(
            {
                str(i): t
                for i, t in zip(index_ids, index_titles, strict=True)
                if str(i) in cluster_size
            }
        )
    report = _report(docs, valid, removed, reason, kept, ids, cluster_size, similar_to, title_of)
    return ClusterResult(keep_rows, index_rows, clusters, rejects, counts, report)


def _report(docs, valid, removed, reason, kept, ids, cluster_size, similar_to, title_of) -> dict:
    sources = docs["source"].to_numpy(zero_copy_only=False)
    by_source = []
    for src in sorted(set(sources[valid].tolist())):
        m = valid & (sources == src)
        by_source.append(
            {
                "source": src or "(none)",
                "documents": int(m.sum()),
                "exact_duplicates": int((m & (reason == "exact_duplicate")).sum()),
                "near_duplicates": int((m & (reason == "near_duplicate")).sum()),
                "duplicate_rate": round(float((m & removed).sum()) / max(int(m.sum()), 1), 4),
            }
        )
    sizes = Counter({str(ids[d]): 1 for d in np.flatnonzero(kept).tolist()})
    for cid, extra in cluster_size.items():
        sizes[cid] += extra  # clusters anchored on an indexed document count it too
    histogram = []
    for lo, hi in _HISTOGRAM_BINS:
        label = str(lo) if lo == hi else (f"{lo}-{hi}" if hi else f">{lo - 1}")
        count = sum(1 for s in sizes.values() if s >= lo and (hi is None or s <= hi))
        histogram.append({"cluster_size": label, "clusters": count})
    members: dict[str, list[str]] = {}
    for d in np.flatnonzero(removed).tolist():
        members.setdefault(similar_to[d], []).append(str(ids[d]))
    largest = [
        {
            "cluster_id": cid,
            "title": title_of.get(cid, ""),
            "size": sizes[cid],
            "members": ", ".join(members.get(cid, [])[:5]),
        }
        for cid, _ in sorted(cluster_size.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    ]
    return {"by_source": by_source, "cluster_sizes": histogram, "largest_clusters": largest}


def update_index(index: DedupIndex, summaries: list[dict[str, Any]], result: ClusterResult) -> int:
    """Add this batch's kept documents to the index; returns the index size."""
    for summary, (sig_rows, rows) in zip(summaries, result.index_rows, strict=True):
        if rows.size:
            part = Part(summary["work_dir"])
            docs = part.docs(["id", "content", "title"]).take(pa.array(rows))
            index.add_part(part, sig_rows, docs)
    index.commit()
    return index.size


def filter_shard(shard: str | Path, index: int, keep_rows: np.ndarray, out_dir: str | Path):
    """Write the kept rows of one shard (all columns) as `part-<index>.parquet`."""
    keep_rows = np.asarray(keep_rows, dtype=np.int64)
    writer = ShardWriter(out_dir, rows_per_shard=1 << 62, first_index=index)
    with writer:
        start = 0
        for table in iter_shard_batches(shard):
            local = keep_rows[(keep_rows >= start) & (keep_rows < start + table.num_rows)] - start
            if local.size:
                writer.write_table(table.take(pa.array(local)))
            start += table.num_rows
    return writer.outputs


STATE_FILE = "cluster.json"


def cluster_state_dir(work_root: str | Path, key: str) -> Path:
    """Where the cluster decisions for `key` (inputs + config + index) are kept."""
    return Path(work_root) / "cluster" / key[:32]


def cluster_key(summaries: list[dict[str, Any]], config: DedupConfig, index_dir) -> str:
    return sha256_json(
        {
            "shards": [s["work_dir"] for s in summaries],
            "config": config.model_dump(mode="json"),
            "index": str(Path(index_dir).resolve()) if index_dir else None,
        }
    )


def save_state(result: ClusterResult, state_dir: str | Path, key: str) -> None:
    """Persist the cluster decisions so a rerun resumes after this step."""
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    write_clusters(result, state)
    for i, (keep, (sig_rows, rows)) in enumerate(
        zip(result.keep_rows, result.index_rows, strict=True)
    ):
        np.save(state / f"keep-{i:05d}.npy", keep)
        np.save(state / f"index-{i:05d}.npy", np.stack([sig_rows, rows]))
    value = {
        "key": key,
        "shards": len(result.keep_rows),
        "counts": dict(result.counts),
        "report": result.report,
        "rejects": [r.model_dump(exclude_none=True) for r in result.rejects],
        "index_committed": False,
    }
    write_json_atomic(state / STATE_FILE, value)


def load_state(state_dir: str | Path, key: str) -> ClusterResult | None:
    """The saved decisions of an earlier run with the same key, if complete."""
    state = Path(state_dir)
    path = state / STATE_FILE
    if not path.exists() or not (state / CLUSTERS_NAME).exists():
        return None
    value = json.loads(path.read_text())
    if value.get("key") != key:
        return None
    n = value["shards"]
    keep = [np.load(state / f"keep-{i:05d}.npy") for i in range(n)]
    index_rows = [tuple(np.load(state / f"index-{i:05d}.npy")) for i in range(n)]
    return ClusterResult(
        keep,
        index_rows,
        pq.read_table(state / CLUSTERS_NAME),
        [Reject(**r) for r in value["rejects"]],
        Counter(value["counts"]),
        value["report"],
        index_committed=value["index_committed"],
    )


def mark_index_committed(state_dir: str | Path, index_size: int) -> None:
    path = Path(state_dir) / STATE_FILE
    value = json.loads(path.read_text())
    value["index_committed"] = True
    value["counts"]["index_documents"] = index_size
    write_json_atomic(path, value)


def write_clusters(result: ClusterResult, out_dir: str | Path) -> None:
    path = Path(out_dir) / CLUSTERS_NAME
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(result.clusters, tmp, compression="zstd")
    tmp.replace(path)


def finish_run(run: StageRun, summaries, result: ClusterResult, outputs) -> dict[str, Any]:
    for r in result.rejects:
        run.reject(r)
    run.counts["in"] += sum(s["documents"] for s in summaries)
    run.counts.update({k: v for k, v in result.counts.items() if k != "documents"})
    run.counts["input_bytes"] = sum(s["bytes"] for s in summaries)
    run.counts["cache_recomputed"] = sum(s.get("cache_recomputed", 0) for s in summaries)
    run.add_outputs(sorted(outputs, key=lambda o: o["path"]))
    run.counts["removed"] = run.counts.get("exact_duplicates", 0) + run.counts.get(
        "near_duplicates", 0
    )
    run.extra["dedup"] = result.report
    run.extra["banding"] = dict(zip(("bands", "rows"), run_banding(run.config), strict=True))
    return run.finish()


def run_banding(config: dict[str, Any]) -> tuple[int, int]:
    return DedupConfig(**config).banding()


def cluster_or_resume(
    summaries: list[dict[str, Any]], config: DedupConfig, index_dir, work_root
) -> dict[str, Any]:
    """Decide kept/removed for every document, or reuse the decisions saved by an earlier run
    with the same inputs, config and index; extend the index once per decision."""
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


def filter_shard_by_state(shard: str, index: int, state_dir: str, out_dir: str):
    """`filter_shard` with the kept rows the cluster step saved for shard `index`."""
    return filter_shard(shard, index, np.load(Path(state_dir) / f"keep-{index:05d}.npy"), out_dir)


def dedup_job(
    input_path: str | Path,
    out_dir: str | Path,
    config: DedupConfig | None = None,
    cache_root: str | Path | None = None,
    *,
    index_dir: str | Path | None = None,
    overwrite: bool = False,
    allow_incomplete: bool = False,
) -> StageJob:
    """The dedup stage (run it with `run_local` or the Prefect driver). `index_dir` names a
    persistent index: documents kept by earlier runs count as seen."""
    config = config or DedupConfig()
    steps = document_stage(
        "dedup",
        lambda i, o, c, x: _dedup_steps(i, o, config, c, x, overwrite, allow_incomplete),
        input_path,
        out_dir,
        cache_root,
        overwrite=overwrite,
        allow_incomplete=allow_incomplete,
        index_dir=index_dir,
    )
    return StageJob("dedup", steps)


def _dedup_steps(
    input_path, out_dir, config, cache_root, index_dir, overwrite, allow_incomplete
) -> JobSteps:
    out = Path(out_dir)
    check_output_directory(out, "dedup", overwrite=overwrite)
    work_root = Path(cache_root) if cache_root else default_cache_root(out)
    inputs = yield from document_inputs(input_path, work_root, allow_incomplete=allow_incomplete)
    shards = inputs.shards
    if out.resolve() in {Path(s).resolve().parent for s in shards}:
        raise InputError(f"{out}: output directory must differ from the input directory")
    names, sizes = unit_names(shards), unit_sizes(shards)
    summaries = yield Units(
        "signatures",
        compute_shard,
        [(s, work_root, config) for s in shards],
        names,
        sizes,
        documents=lambda r: r["documents"],
        warm_up=partial(warm_up, config),
    )
    state = yield Single("cluster", cluster_or_resume, (summaries, config, index_dir, work_root))
    with StagedOutput(out, "dedup", overwrite=overwrite) as staged:
        run = StageRun("dedup", staged.path, config, [input_path])
        inputs.record(run)
        per_shard = yield Units(
            "filter",
            filter_shard_by_state,
            [(s, i, state["state_dir"], str(staged.path)) for i, s in enumerate(shards)],
            names,
            sizes,
        )
        result = load_state(state["state_dir"], state["key"])
        if result is None:
            raise IntegrityError(f"{state['state_dir']}: the saved dedup decisions disappeared")
        shutil.copyfile(Path(state["state_dir"]) / CLUSTERS_NAME, staged.path / CLUSTERS_NAME)
        run.extra["resumed_cluster"] = state["resumed"]
        manifest = finish_run(run, summaries, result, [o for outs in per_shard for o in outs])
        staged.publish()
    return manifest


__all__ = ["cluster_shards", "dedup_job", "filter_shard", "shard_name"]
