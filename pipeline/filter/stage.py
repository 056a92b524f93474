"""The filter stage over document shards, resumable per shard.

`filter_job` is the stage on the stage contract (docs/stages.md): run it with
`corpusforge.pipeline.stage.run_local` or the Prefect driver. Its unit, `filter_shard`, filters
one input shard into a cache directory keyed by the shard's sha256, the config and the code
version, so a rerun skips finished shards. `assemble` publishes the kept
documents with one manifest (`in = out + rejected + removed`, removals by filter, rule and
source, languages), one rejects file and the removals side table
(`removals/part-NNNNN.parquet`, one per input shard: id, source, filter, rule, value,
threshold, detail). The side table holds ids and measurements, never text.

Kept documents carry their language in `meta` (`language`, `language_score`; a different
language declared by ingest moves to `language_declared`), and C4's line removal applied.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.core.errors import InputError, environment_problem
from corpusforge.core.hashing import sha256_file, sha256_json
from corpusforge.pipeline.documents import ShardWriter, iter_shard_batches, shard_name
from corpusforge.pipeline.filter.config import FilterConfig
from corpusforge.pipeline.filter.engine import Decision, DocumentFilter
from corpusforge.pipeline.manifest import REJECTS_NAME, Reject, StageRun, read_manifest
from corpusforge.pipeline.shard_job import per_shard_job
from corpusforge.pipeline.stage import StageJob
from corpusforge.pipeline.stage_io import (
    CachedUnit,
    DocumentInputs,
    StagedOutput,
    unit_key,
)

REMOVALS_DIR = "removals"
REMOVALS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("filter", pa.string()),
        ("rule", pa.string()),
        ("value", pa.float64()),
        ("threshold", pa.float64()),
        ("detail", pa.string()),
    ]
)
_FILTERS: dict[str, DocumentFilter] = {}


def get_filter(config: FilterConfig) -> DocumentFilter:
    """One filter (and one language identifier) per worker process and config."""
    key = sha256_json(config.model_dump(mode="json"))
    if key not in _FILTERS:
        _FILTERS[key] = DocumentFilter(config)
    return _FILTERS[key]


def shard_cache_key(shard_sha256: str, config: FilterConfig) -> str:
    return unit_key(shard_sha256, config.model_dump(mode="json"))


def _with_language(meta: Any, decision: Decision) -> str:
    """The row's meta JSON with the identified language and its confidence."""
    try:
        data = json.loads(meta) if isinstance(meta, str) and meta else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {"meta": data}
    declared = data.get("language")
    if declared and declared != decision.language:
        data["language_declared"] = declared
    data["language"] = decision.language
    data["language_score"] = decision.confidence
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def filter_shard(shard: str, cache_root: str | Path, config: FilterConfig) -> dict[str, Any]:
    """Filter one shard into its cache directory (or reuse it); return its result record."""
    t0 = time.perf_counter()
    shard_sha = sha256_file(shard)
    key = shard_cache_key(shard_sha, config)
    unit = CachedUnit(cache_root, key)
    if (result := unit.load()) is not None:
        return {**result, "path": str(shard), "cached": True}
    work = unit.begin()
    doc_filter = get_filter(config)
    counts: Counter[str] = Counter()
    removed_by: Counter[str] = Counter()  # "filter.rule"
    by_source: dict[str, Counter[str]] = {}
    languages: dict[str, Counter[str]] = {}
    lines_removed: Counter[str] = Counter()
    removals: list[dict[str, Any]] = []
    rejects = open(work / REJECTS_NAME, "w", encoding="utf-8")  # noqa: SIM115 - closed below

    def reject(position: Any, reason: str) -> None:
        rejects.write(Reject(file=str(shard), position=position, reason=reason).model_dump_json())
        rejects.write("\n")
        counts["rejected"] += 1

    writer = ShardWriter(work, rows_per_shard=config.rows_per_shard)
    try:
        for table in iter_shard_batches(shard, batch_size=config.docs_per_batch):
            kept = []
            for row in table.to_pylist():
                counts["in"] += 1
                source = str(row.get("source") or "dataset")
                src = by_source.setdefault(source, Counter())
                src["in"] += 1
                text = row.get("text") or ""
                counts["chars_in"] += len(text)
                try:
                    decision = doc_filter.apply(text, source)
                except Exception as exc:
                    if problem := environment_problem(exc):
                        raise problem from exc
                    reject(row.get("id"), f"could not be filtered: {type(exc).__name__}")
                    src["rejected"] += 1
                    continue
                lines_removed.update(decision.lines_removed)
                if decision.language is not None:
                    lang = languages.setdefault(decision.language, Counter())
                    lang["in"] += 1
                removal = decision.removal
                if removal is not None:
                    counts["removed"] += 1
                    counts[f"removed_{removal.filter}"] += 1
                    removed_by[f"{removal.filter}.{removal.rule}"] += 1
                    src["removed"] += 1
                    src[f"removed_{removal.filter}"] += 1
                    removals.append(
                        {
                            "id": str(row["id"]),
                            "source": source,
                            "filter": removal.filter,
                            "rule": removal.rule,
                            "value": removal.value,
                            "threshold": removal.threshold,
                            "detail": removal.detail,
                        }
                    )
                    continue
                src["out"] += 1
                if decision.language is not None:
                    languages[decision.language]["out"] += 1
                    row["meta"] = _with_language(row.get("meta"), decision)
                if decision.text is not text:
                    counts["lines_edited"] += 1
                    row["text"] = decision.text
                counts["chars_out"] += len(row["text"])
                kept.append(row)
            writer.write_rows(kept)
    except InputError as exc:
        reject(None, str(exc))
    outputs = writer.close()
    pq.write_table(
        pa.Table.from_pylist(removals, schema=REMOVALS_SCHEMA),
        work / "removals.parquet",
        compression="zstd",
    )
    rejects.close()
    if unit.recomputed:
        counts["cache_recomputed"] += 1
    result = {
        "path": str(shard),
        "sha256": shard_sha,
        "cache_key": key,
        "counts": dict(counts),
        "removed_by_rule": dict(removed_by),
        "by_source": {s: dict(c) for s, c in by_source.items()},
        "languages": {lang: dict(c) for lang, c in languages.items()},
        "lines_removed": dict(lines_removed),
        "outputs": outputs,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return {**unit.commit(result), "cached": False}


def assemble(
    results: list[dict[str, Any]],
    cache_root: str | Path,
    out_dir: str | Path,
    config: FilterConfig,
    inputs: DocumentInputs | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Copy every shard's output into `out_dir` (staged, then published); write the manifest,
    rejects and the removals side table."""
    with StagedOutput(out_dir, "filter", overwrite=overwrite) as staged:
        out = staged.path
        (out / REMOVALS_DIR).mkdir()
        run = StageRun("filter", out, config, inputs=[], hash_inputs=False)
        run.inputs = [
            {
                "path": r["path"],
                "sha256": r["sha256"],
                "counts": {
                    **r["counts"],
                    **{f"rule.{k}": v for k, v in r["removed_by_rule"].items()},
                },
                "cached": r.get("cached", False),
            }
            for r in results
        ]
        if inputs is not None:
            inputs.record(run)
        removed_by: Counter[str] = Counter()
        by_source: dict[str, Counter[str]] = {}
        languages: dict[str, Counter[str]] = {}
        lines_removed: Counter[str] = Counter()
        index = 0
        for i, r in enumerate(results):
            src = Path(cache_root) / r["cache_key"]
            for shard in r["outputs"]:
                shutil.copyfile(src / shard["path"], out / shard_name(index))
                run.add_outputs([{**shard, "path": shard_name(index), "from": r["path"]}])
                index += 1
            shutil.copyfile(src / "removals.parquet", out / REMOVALS_DIR / shard_name(i))
            for line in (src / REJECTS_NAME).read_text(encoding="utf-8").splitlines():
                if line.strip():
                    run.reject(json.loads(line))
            for k, v in r["counts"].items():
                if k != "rejected":
                    run.counts[k] += v
            run.counts["shards"] += 1
            run.counts["shards_cached"] += int(r.get("cached", False))
            removed_by.update(r["removed_by_rule"])
            lines_removed.update(r["lines_removed"])
            for s, c in r["by_source"].items():
                by_source.setdefault(s, Counter()).update(c)
            for lang, c in r["languages"].items():
                languages.setdefault(lang, Counter()).update(c)
        run.counts["removed"] = run.counts.get("removed", 0)
        run.extra["removed_by_rule"] = dict(sorted(removed_by.items()))
        run.extra["by_source"] = {s: dict(sorted(c.items())) for s, c in sorted(by_source.items())}
        run.extra["languages"] = {
            lang: dict(sorted(c.items()))
            for lang, c in sorted(languages.items(), key=lambda kv: -kv[1]["in"])
        }
        run.extra["c4_lines_removed"] = dict(sorted(lines_removed.items()))
        run.extra["policy"] = {
            s: list(config.filters_for(s)) for s in sorted({*config.policy, *by_source})
        }
        run.extra["removals"] = f"{REMOVALS_DIR}/part-NNNNN.parquet (one per input shard)"
        manifest = run.finish()
        staged.publish()
    return manifest


def filter_job(
    input_path: str | Path,
    out_dir: str | Path,
    config: FilterConfig | None = None,
    cache_root: str | Path | None = None,
    *,
    overwrite: bool = False,
    allow_incomplete: bool = False,
) -> StageJob:
    """The filter stage over document shards (run it with `run_local` or the Prefect driver)."""
    return per_shard_job(
        "filter",
        "filter",
        filter_shard,
        assemble,
        input_path,
        out_dir,
        config or FilterConfig(),
        cache_root,
        overwrite=overwrite,
        allow_incomplete=allow_incomplete,
    )


def read_removals(out_dir: str | Path) -> pa.Table:
    """The removals side table of a filter output (all input shards)."""
    files = sorted((Path(out_dir) / REMOVALS_DIR).glob("part-*.parquet"))
    if not files:
        return REMOVALS_SCHEMA.empty_table()
    return pa.concat_tables(pq.read_table(f, schema=REMOVALS_SCHEMA) for f in files)


def review_removed(
    out_dir: str | Path,
    *,
    sample: int = 20,
    filter_name: str | None = None,
    chars: int = 300,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """A sample of removed documents (optionally of one filter, or 'filter.rule'), each with the
    beginning of its text read back from the stage's input shards (recorded in the manifest,
    checked by sha256), so a person can judge a rule."""
    manifest = read_manifest(out_dir)
    if manifest.get("stage") != "filter":
        raise InputError(f"{out_dir}: not a filter stage output")
    rows = read_removals(out_dir).to_pylist()
    if filter_name:
        rows = [r for r in rows if filter_name in (r["filter"], f"{r['filter']}.{r['rule']}")]
    picked = random.Random(seed).sample(rows, min(sample, len(rows)))
    wanted = {r["id"]: r for r in picked}
    texts: dict[str, str] = {}
    for record in manifest.get("inputs", []):
        path = Path(record.get("path", ""))
        if not wanted.keys() - texts.keys():
            break
        if not path.is_file():
            raise InputError(f"{path}: the filter's input is gone; cannot show removed text")
        if record.get("sha256") and sha256_file(path) != record["sha256"]:
            raise InputError(f"{path}: the filter's input changed since the run")
        for table in iter_shard_batches(path, batch_size=4096):
            ids = table.column("id").to_pylist()
            for doc_id, text in zip(ids, table.column("text").to_pylist(), strict=True):
                if str(doc_id) in wanted:
                    texts[str(doc_id)] = (text or "")[:chars]
    return [{**r, "text": texts.get(r["id"], "")} for r in picked]
