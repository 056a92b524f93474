"""The PII stage over document shards, resumable per shard, plus instruction (SFT) data.

`scrub_shard` scrubs one input shard into a cache directory keyed by the shard's sha256, the
config (with a salt id, not the salt) and the code version, so a rerun skips finished shards.
`assemble` links the results into the output directory with one manifest (totals by type and
source, dropped documents), one rejects file and the per-document entity-count side table
(`entity_counts/part-NNNNN.parquet`: id, source, chars, dropped, ner, then one count column per
entity type). No text or PII value is written anywhere but the scrubbed shards.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.core.errors import InputError, environment_problem
from corpusforge.core.hashing import sha256_file, sha256_json
from corpusforge.pipeline.documents import ShardWriter, iter_shard_batches, shard_name
from corpusforge.pipeline.manifest import REJECTS_NAME, Reject, StageRun
from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.scrub import Scrubbed, Scrubber, freeze_heap, language_of
from corpusforge.pipeline.shard_job import per_shard_job
from corpusforge.pipeline.stage import StageJob
from corpusforge.pipeline.stage_io import (
    CachedUnit,
    DocumentInputs,
    StagedOutput,
    unit_key,
)

DONE_NAME = "_DONE.json"
COUNTS_DIR = "entity_counts"
_SCRUBBERS: dict[str, Scrubber] = {}


def get_scrubber(config: PiiConfig) -> Scrubber:
    """One scrubber (and one loaded spaCy model) per worker process and config, warmed up, with
    the heap it built exempt from garbage collection (`freeze_heap`)."""
    key = sha256_json(config.fingerprint())
    if key not in _SCRUBBERS:
        scrubber = Scrubber(config)
        scrubber.warm_up()
        _SCRUBBERS[key] = scrubber
        freeze_heap()
    return _SCRUBBERS[key]


def shard_cache_key(shard_sha256: str, config: PiiConfig) -> str:
    return unit_key(shard_sha256, config.fingerprint())


def _counts_table(rows: list[dict[str, Any]], entity_types: list[str]) -> pa.Table:
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("source", pa.string()),
            ("chars", pa.int64()),
            ("dropped", pa.bool_()),
            ("ner", pa.string()),
            *[(t, pa.int32()) for t in entity_types],
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def _scrub_rows(scrubber: Scrubber, rows: list[dict[str, Any]], reject) -> list[Scrubbed | None]:
    """Scrub a batch; if it fails, retry row by row so one bad row is quarantined alone."""
    texts = [r["text"] for r in rows]
    langs = [language_of(r.get("meta")) for r in rows]
    try:
        return scrubber.scrub(texts, langs)
    except Exception as exc:
        if problem := environment_problem(exc):
            raise problem from exc
        out: list[Scrubbed | None] = []
        for i, row in enumerate(rows):
            try:
                out.extend(scrubber.scrub([texts[i]], [langs[i]]))
            except Exception as row_exc:
                if problem := environment_problem(row_exc):
                    raise problem from row_exc
                reject(row["id"], f"could not be scrubbed: {type(row_exc).__name__}")
                out.append(None)
        return out


def scrub_shard(shard: str, cache_root: str | Path, config: PiiConfig) -> dict[str, Any]:
    """Scrub one shard into its cache directory (or reuse it); return its result record."""
    t0 = time.perf_counter()
    shard_sha = sha256_file(shard)
    key = shard_cache_key(shard_sha, config)
    unit = CachedUnit(cache_root, key)
    if (result := unit.load()) is not None:
        return {**result, "path": str(shard), "cached": True}
    work = unit.begin()
    scrubber = get_scrubber(config)
    entity_types = config.active_entities
    counts: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    by_source: dict[str, Counter[str]] = {}
    rejects = open(work / REJECTS_NAME, "w", encoding="utf-8")  # noqa: SIM115 - closed below

    def reject(position: Any, reason: str) -> None:
        rejects.write(Reject(file=str(shard), position=position, reason=reason).model_dump_json())
        rejects.write("\n")
        counts["rejected"] += 1

    count_writer: pq.ParquetWriter | None = None
    writer = ShardWriter(work, rows_per_shard=config.rows_per_shard)
    chars_in = 0
    try:
        for table in iter_shard_batches(shard, batch_size=config.docs_per_batch):
            rows = table.to_pylist()
            counts["in"] += len(rows)
            kept, count_rows = [], []
            for row, result in zip(rows, _scrub_rows(scrubber, rows, reject), strict=True):
                if result is None:
                    continue
                source = str(row.get("source") or "dataset")
                chars_in += len(row["text"] or "")
                for flag in result.flags:
                    counts[flag] += 1
                by_type.update(result.counts)
                by_source.setdefault(source, Counter()).update(result.counts)
                counts["entities"] += sum(result.counts.values())
                counts["documents_with_pii"] += int(bool(result.counts))
                if result.dropped:
                    counts["dropped_pii_density"] += 1
                else:
                    kept.append({**row, "text": result.text})
                count_rows.append(
                    {
                        "id": str(row["id"]),
                        "source": source,
                        "chars": len(row["text"] or ""),
                        "dropped": result.dropped,
                        "ner": result.ner or "",
                        **{t: result.counts.get(t, 0) for t in entity_types},
                    }
                )
            writer.write_rows(kept)
            if count_rows:
                ct = _counts_table(count_rows, entity_types)
                if count_writer is None:
                    count_writer = pq.ParquetWriter(work / "entity_counts.parquet", ct.schema)
                count_writer.write_table(ct)
    except InputError as exc:
        reject(None, str(exc))
    outputs = writer.close()
    if count_writer is None:
        pq.write_table(_counts_table([], entity_types), work / "entity_counts.parquet")
    else:
        count_writer.close()
    rejects.close()
    if unit.recomputed:
        counts["cache_recomputed"] += 1
    result = {
        "path": str(shard),
        "sha256": shard_sha,
        "cache_key": key,
        "counts": dict(counts),
        "by_type": dict(by_type),
        "by_source": {s: dict(c) for s, c in by_source.items()},
        "chars": chars_in,
        "outputs": outputs,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return {**unit.commit(result), "cached": False}


def assemble(
    results: list[dict[str, Any]],
    cache_root: str | Path,
    out_dir: str | Path,
    config: PiiConfig,
    inputs: DocumentInputs | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Copy every shard's output into `out_dir` (staged, then published); write the manifest,
    rejects and counts table."""
    with StagedOutput(out_dir, "pii", overwrite=overwrite) as staged:
        out = staged.path
        (out / COUNTS_DIR).mkdir()
        run = StageRun("pii", out, config, inputs=[], hash_inputs=False)
        run.inputs = [
            {
                "path": r["path"],
                "sha256": r["sha256"],
                "counts": {**r["counts"], **{f"type.{k}": v for k, v in r["by_type"].items()}},
                "cached": r.get("cached", False),
            }
            for r in results
        ]
        if inputs is not None:
            inputs.record(run)
        by_type: Counter[str] = Counter()
        by_source: dict[str, Counter[str]] = {}
        index = 0
        for i, r in enumerate(results):
            src = Path(cache_root) / r["cache_key"]
            for shard in r["outputs"]:
                shutil.copyfile(src / shard["path"], out / shard_name(index))
                run.add_outputs([{**shard, "path": shard_name(index), "from": r["path"]}])
                index += 1
            shutil.copyfile(src / "entity_counts.parquet", out / COUNTS_DIR / shard_name(i))
            for line in (src / REJECTS_NAME).read_text(encoding="utf-8").splitlines():
                if line.strip():
                    run.reject(json.loads(line))
            for k, v in r["counts"].items():
                if k != "rejected":
                    run.counts[k] += v
            run.counts["shards"] += 1
            run.counts["shards_cached"] += int(r.get("cached", False))
            run.counts["chars"] += r.get("chars", 0)
            by_type.update(r["by_type"])
            for s, c in r["by_source"].items():
                by_source.setdefault(s, Counter()).update(c)
        run.counts["removed"] = run.counts.get("dropped_pii_density", 0)
        run.extra["entities_by_type"] = dict(sorted(by_type.items()))
        run.extra["entities_by_source"] = {s: dict(sorted(c.items())) for s, c in by_source.items()}
        run.extra["entity_counts"] = f"{COUNTS_DIR}/part-NNNNN.parquet (one per input shard)"
        manifest = run.finish()
        staged.publish()
    return manifest


def pii_job(
    input_path: str | Path,
    out_dir: str | Path,
    config: PiiConfig | None = None,
    cache_root: str | Path | None = None,
    *,
    overwrite: bool = False,
    allow_incomplete: bool = False,
) -> StageJob:
    """The PII stage over document shards (run it with `run_local` or the Prefect driver)."""
    return per_shard_job(
        "pii",
        "scrub",
        scrub_shard,
        assemble,
        input_path,
        out_dir,
        config or PiiConfig(),
        cache_root,
        overwrite=overwrite,
        allow_incomplete=allow_incomplete,
    )


# Text fields of instruction rows, and of preference rows (chosen and rejected alike).
_SFT_TEXT_KEYS = ("prompt", "response", "instruction", "input", "output", "system")
_PREFERENCE_KEYS = ("chosen", "rejected")


def _sft_texts(row: dict[str, Any]) -> list[tuple[Any, str]]:
    """(setter, text) pairs of an instruction or preference row: prompt/response, chat
    messages, prompt/chosen/rejected as text or as lists of chat messages."""
    if isinstance(row.get("messages"), list) and not any(k in row for k in _PREFERENCE_KEYS):
        return [
            (m, "content")
            for m in row["messages"]
            if isinstance(m, dict) and isinstance(m.get("content"), str)
        ]
    targets = []
    for key in ("messages", *_SFT_TEXT_KEYS, *_PREFERENCE_KEYS):
        value = row.get(key)
        if isinstance(value, str):
            targets.append((row, key))
        elif isinstance(value, list):
            targets += [
                (m, "content")
                for m in value
                if isinstance(m, dict) and isinstance(m.get("content"), str)
            ]
    return targets


def scrub_sft_jsonl(
    in_path: str | Path, out_path: str | Path, config: PiiConfig | None = None
) -> dict[str, Any]:
    """Scrub instruction data (`{"prompt","response"}` or `{"messages": [...]}` per line) or
    preference data (`{"prompt","chosen","rejected"}`, text or chat messages).

    Every text field of a row is scrubbed; a row is dropped whole when any field trips the
    density policy; unreadable lines are counted (never copied). Returns counts only.
    """
    config = config or PiiConfig()
    scrubber = get_scrubber(config)
    counts: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    with (
        open(in_path, encoding="utf-8", errors="surrogateescape") as src,
        open(tmp, "w", encoding="utf-8") as dst,
    ):
        for batch in _batched(src, config.docs_per_batch):
            rows, fields = [], []
            for line in batch:
                if not line.strip():
                    continue
                counts["in"] += 1
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError
                except ValueError:
                    counts["rejected_unreadable"] += 1
                    continue
                targets = _sft_texts(row)
                if not targets:
                    counts["rejected_no_text"] += 1
                    continue
                rows.append((row, targets))
                fields.extend(obj[k] for obj, k in targets)
            scrubbed = iter(scrubber.scrub(fields))
            for row, targets in rows:
                results = [next(scrubbed) for _ in targets]
                for r in results:
                    by_type.update(r.counts)
                if any(r.dropped for r in results):
                    counts["dropped_pii_density"] += 1
                    continue
                for (obj, k), r in zip(targets, results, strict=True):
                    obj[k] = r.text
                dst.write(json.dumps(row, ensure_ascii=False) + "\n")
                counts["out"] += 1
    tmp.replace(out_path)
    return {"counts": dict(counts), "entities_by_type": dict(sorted(by_type.items()))}


def _batched(lines: Iterable[str], n: int):
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch
