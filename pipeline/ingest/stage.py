"""The ingest stage: source files to normalised document shards.

Work is per input file (`ingest_file`), so files run in parallel and a rerun skips files whose
result already exists: each file's shards live in a cache directory keyed by the file's sha256,
the config and the code version. `assemble` then links the per-file shards, in input order,
into the output directory as `part-NNNNN.parquet` with one manifest and one rejects file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from corpusforge.core.errors import InputError, environment_problem
from corpusforge.core.hashing import sha256_file, sha256_json
from corpusforge.pipeline import stage_io
from corpusforge.pipeline.documents import shard_name
from corpusforge.pipeline.ingest.config import IngestConfig
from corpusforge.pipeline.ingest.datasets import read_hub_dataset
from corpusforge.pipeline.ingest.detect import detect_format
from corpusforge.pipeline.ingest.readers import open_reader
from corpusforge.pipeline.ingest.records import RawDocument, RecordError
from corpusforge.pipeline.ingest.warc import read_warc, warc_spans
from corpusforge.pipeline.ingest.writer import BackgroundShardWriter
from corpusforge.pipeline.manifest import REJECTS_NAME, Reject, StageRun
from corpusforge.pipeline.remote import source_stage
from corpusforge.pipeline.stage import JobSteps, StageJob, Units, unit_names, unit_sizes
from corpusforge.pipeline.stage_io import (
    CachedUnit,
    StagedOutput,
    check_output_directory,
    default_cache_root,
    unit_key,
)
from corpusforge.pipeline.text import normalize_texts

DONE_NAME = "_DONE.json"
HUB_PREFIX = "hf://"
# Documents are normalised in batches of this many (or this many characters): enough to
# amortise the vectorised check's per-call cost, small enough that the check's buffers (the
# joined UTF-8 and a few NumPy temporaries of its size) stay well under a megabyte; larger
# temporaries come from fresh memory and pay page faults.
NORMALIZE_ROWS = 64
NORMALIZE_CHARS = 500_000


def document_id(source: str, file_sha256: str, key: str) -> str:
    """Stable id of a record: its source file's content hash plus its key inside that file.

    Same file, same ids on every run; the same record in two files (a book as .txt and as
    .zip, overlapping dumps) gets two ids, and dedup removes the copy.
    """
    return id_maker(file_sha256)(source, key)


def id_maker(file_sha256: str) -> Callable[[str, str], str]:
    """`document_id` for the records of one file: the file's part of the hash is done once."""
    prefix = hashlib.blake2b(f"{file_sha256}:".encode(), digest_size=10)

    def new_id(source: str, key: str) -> str:
        h = prefix.copy()
        h.update(key.encode())
        return f"{source}-{h.hexdigest()}"

    return new_id


# Compact, sorted-key JSON; the json module is the fallback for what orjson refuses (lone
# surrogates from a dataset's escapes, integers past 64 bits) and writes the same format.
# orjson because meta is encoded for every page and the json module's encoder is slower.
# Dates and dataclasses go through `default=str`, as with the json module.
_META_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
_meta_json_fallback = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, default=str, separators=(",", ":")
).encode


def meta_json(meta: dict[str, Any]) -> str:
    """A document's `meta` column value."""
    try:
        return orjson.dumps(meta, default=str, option=_META_OPTIONS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return _meta_json_fallback(meta)


def expand_inputs(inputs: Iterable[str | Path]) -> list[str]:
    """Files of the inputs (directories walked in sorted order), duplicates removed."""
    files: list[str] = []
    for item in inputs:
        item = str(item)
        if item.startswith(HUB_PREFIX):
            files.append(item)
            continue
        p = Path(item)
        if p.is_dir():
            files.extend(
                str(f)
                for f in sorted(p.rglob("*"))
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
        elif p.exists():
            files.append(str(p))
        else:
            raise InputError(f"{p}: no such file or directory")
    seen: set[str] = set()
    return [f for f in files if not (f in seen or seen.add(f))]


def file_cache_key(file_sha256: str, config: IngestConfig) -> str:
    return unit_key(file_sha256, config.model_dump(mode="json"))


def _read_records(
    path: str,
    config: IngestConfig,
    span: tuple[int, int] | None = None,
    stats: Counter | None = None,
) -> Iterator[RawDocument | RecordError]:
    if path.startswith(HUB_PREFIX):
        yield from read_hub_dataset(path[len(HUB_PREFIX) :], config)
        return
    if span is not None:  # a unit of a large WARC file (`warc_units`)
        yield from read_warc(Path(path), config, stats, span=span)
        return
    yield from open_reader(Path(path), config)


def ingest_file(
    path: str,
    cache_root: str | Path,
    config: IngestConfig,
    uri: str | None = None,
    span: tuple[int, int] | None = None,
    file_sha256: str | None = None,
) -> dict[str, Any]:
    """Ingest one source file (or the byte range `span` of a WARC file) into its cache
    directory; return its result record.

    `uri` is where the file came from when `path` is a local copy of it (an object fetched
    from a URL): documents, rejects and the result name it instead of `path`.
    Bad records are quarantined (rejects.jsonl) and counted; a file that cannot be read at all
    becomes one reject. Nothing here raises for bad input. `file_sha256`, when the caller
    has it, saves hashing the file again (every unit of a large file would).
    """
    t0 = time.perf_counter()
    file_sha, key = _file_key(path, config, uri, file_sha256)
    if span is not None:
        key = sha256_json({"key": key, "span": list(span)})[:32]
    return _read_file(path, cache_root, config, file_sha, key, t0, uri, span)()


def _file_key(
    path: str, config: IngestConfig, uri: str | None = None, file_sha: str | None = None
) -> tuple[str, str]:
    """The file's sha256 (of the spec for a hub dataset) and its cache key (which covers
    `uri` when given: the cached documents carry it)."""
    is_hub = path.startswith(HUB_PREFIX)
    if file_sha is None:
        file_sha = hashlib.sha256(path.encode()).hexdigest() if is_hub else sha256_file(path)
    key = file_cache_key(file_sha, config)
    return file_sha, key if uri is None else sha256_json({"key": key, "uri": uri})[:32]


def _read_file(
    path: str,
    cache_root: str | Path,
    config: IngestConfig,
    file_sha: str,
    key: str,
    t0: float,
    uri: str | None = None,
    span: tuple[int, int] | None = None,
) -> Callable[[], dict[str, Any]]:
    """`ingest_file` up to the end of reading; returns the call that finishes the file: waits
    for the shard writer's last batches and records the result."""
    is_hub = path.startswith(HUB_PREFIX)
    local, path = path, uri or path  # read `local`; name `path` (the URL when fetched)
    unit = CachedUnit(cache_root, key)
    if (cached := unit.load()) is not None:
        cached["path"] = path
        return lambda: {**cached, "cached": True}
    work = unit.begin()
    counts: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    reader_stats: Counter[str] = Counter()
    licenses: set[str] = set()
    fmt = "hub-dataset" if is_hub else None
    new_id = id_maker(file_sha)
    min_chars, max_chars = config.min_chars, config.max_doc_chars
    with (
        open(work / REJECTS_NAME, "w", encoding="utf-8") as rejects,
        BackgroundShardWriter(work, config.rows_per_shard) as writer,
    ):

        def reject(position: Any, reason: str, source: str | None = None) -> None:
            r = Reject(file=path, position=position, reason=reason, source=source)
            rejects.write(r.model_dump_json(exclude_none=True) + "\n")
            counts["rejected"] += 1

        pending: list[RawDocument] = []  # read, not yet normalised (input order kept)
        pending_chars = 0

        def write_pending() -> None:
            nonlocal pending_chars
            batch = pending[:]  # taken first: a failure below must not write these twice
            pending.clear()
            pending_chars = 0
            texts, raws = normalize_texts([item.text for item in batch])
            for item, text, raw in zip(batch, texts, raws, strict=True):
                if len(text) < min_chars:
                    counts["dropped_short"] += 1
                    continue
                if lic := item.meta.get("license"):
                    licenses.add(str(lic))
                by_source[item.source] += 1
                writer.add(
                    new_id(item.source, item.key),
                    raw,
                    item.source,
                    path,
                    item.locator,
                    meta_json(item.meta),
                )

        position: Any = 0
        try:
            if not is_hub:
                fmt = detect_format(Path(local))
            for item in _read_records(local, config, span, reader_stats):
                if isinstance(item, RecordError):
                    reject(item.position, item.reason)
                    continue
                position = item.position
                counts["records"] += 1
                if len(item.text) > max_chars:
                    counts["too_large"] += 1
                    reject(
                        position,
                        f"document too large ({len(item.text)} chars > max_doc_chars {max_chars})",
                        item.source,
                    )
                    continue
                pending.append(item)
                pending_chars += len(item.text)
                if len(pending) >= NORMALIZE_ROWS or pending_chars >= NORMALIZE_CHARS:
                    write_pending()
        except InputError as exc:
            reject(position, str(exc))
        except Exception as exc:  # a reader bug or unforeseen corruption: quarantine, keep rest
            if writer.failed:  # not the input's fault (disk full, ...): fail the file
                raise
            if problem := environment_problem(exc):  # the machine's fault: stop, name it
                raise problem from exc
            reject(position, f"unreadable after this position: {type(exc).__name__}")
        write_pending()  # the documents read before the end (or the error)
        writer.flush()  # the writer thread starts on the last batch now
    busy = time.perf_counter() - t0

    def finish() -> dict[str, Any]:
        t1 = time.perf_counter()
        with writer:  # on an error: stop the thread, remove the unfinished shard
            outputs = writer.close()
        result = {
            "path": path,
            "sha256": file_sha,
            "format": fmt or "unknown",
            "bytes": (span[1] - span[0]) if span else 0 if is_hub else Path(local).stat().st_size,
            "cache_key": key,
            "documents": sum(o["rows"] for o in outputs),
            "by_source": dict(by_source),
            "records": counts["records"],
            "rejected": counts["rejected"],
            "too_large": counts["too_large"],
            "cache_recomputed": int(unit.recomputed),
            "dropped_short": counts["dropped_short"],
            "licenses": sorted(licenses),
            "outputs": outputs,
            "seconds": round(busy + time.perf_counter() - t1, 3),  # reading + waiting
        }
        if span is not None:
            result["span"] = list(span)
            result["overran"] = bool(reader_stats["overran"])
        return {**unit.commit(result), "cached": False}

    return finish


def assemble(
    results: list[dict[str, Any]],
    cache_root: str | Path,
    out_dir: str | Path,
    config: IngestConfig,
    inputs: list[str],
    overwrite: bool = False,
) -> dict[str, Any]:
    """Copy each file's shards into `out_dir` in input order (staged, then published); write
    manifest and rejects.

    Counts: `in` is every record read, good or bad (a file's reader error counts as one),
    `rejected` the quarantined ones, `removed` the too-short documents: in = out + rejected
    + removed.
    """
    with StagedOutput(out_dir, "ingest", overwrite=overwrite) as staged:
        out = staged.path
        run = StageRun("ingest", out, config, inputs=[], hash_inputs=False)
        run.inputs = [_input_entry(group) for group in _by_file(results)]
        index = 0
        by_source: Counter[str] = Counter()
        for r in results:
            src_dir = Path(cache_root) / r["cache_key"]
            for shard in r["outputs"]:
                name = shard_name(index)
                shutil.copyfile(src_dir / shard["path"], out / name)
                run.add_outputs([{**shard, "path": name, "from": r["path"]}])
                index += 1
            rejects_path = src_dir / REJECTS_NAME
            if rejects_path.exists():
                for line in rejects_path.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        run.reject(json.loads(line))
            by_source.update(r["by_source"])
            # a reject that is not a too-large record was never counted as a record
            run.counts["in"] += r["records"] + r["rejected"] - r.get("too_large", 0)
            run.counts["dropped_short"] += r["dropped_short"]
            run.counts["units"] += 1
            run.counts["units_cached"] += int(r.get("cached", False))
            run.counts["cache_recomputed"] += r.get("cache_recomputed", 0)
        run.counts["files"] = len(run.inputs)
        run.counts["files_cached"] = sum(int(i["cached"]) for i in run.inputs)
        run.counts["removed"] = run.counts["dropped_short"]
        run.extra["by_source"] = dict(by_source)
        manifest = run.finish()
        staged.publish()
    return manifest


def _by_file(results: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The results in input order, the units of one file together."""
    groups: list[list[dict[str, Any]]] = []
    for r in results:
        if r.get("span") and r["span"][0] > 0 and groups and groups[-1][0]["path"] == r["path"]:
            groups[-1].append(r)
        else:
            groups.append([r])
    return groups


def _input_entry(units: list[dict[str, Any]]) -> dict[str, Any]:
    """One file's line in the manifest's `inputs`, over its units."""
    first = units[0]
    entry = {
        "path": first["path"],
        "sha256": first["sha256"],
        "format": first["format"],
        "bytes": sum(u["bytes"] for u in units),
        "documents": sum(u["documents"] for u in units),
        "rejected": sum(u["rejected"] for u in units),
        "dropped_short": sum(u["dropped_short"] for u in units),
        "licenses": sorted({lic for u in units for lic in u["licenses"]}),
        "cached": all(u.get("cached", False) for u in units),
    }
    if len(units) > 1:
        entry["units"] = [u["span"] for u in units]
    return entry


def ingest_job(
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    config: IngestConfig | None = None,
    cache_root: str | Path | None = None,
    *,
    overwrite: bool = False,
) -> StageJob:
    """The ingest stage over files, directories and hub datasets (run it with `run_local` or
    the Prefect driver)."""
    config = config or IngestConfig()
    steps = partial(_ingest_steps, config=config, overwrite=overwrite)
    return StageJob(
        "ingest", source_stage("ingest", steps, inputs, out_dir, cache_root, overwrite=overwrite)
    )


def _ingest_steps(inputs, out_dir, cache_root, uri_of, *, config, overwrite) -> JobSteps:
    check_output_directory(Path(out_dir), "ingest", overwrite=overwrite)
    files = expand_inputs(inputs)
    cache = Path(cache_root) if cache_root else default_cache_root(out_dir)
    plan = [(f, uri_of(f) if uri_of else None, warc_units(f)) for f in files]
    calls, names, sizes, owner = [], [], [], []
    for k, (f, uri, units) in enumerate(plan):
        if units is None:
            calls.append((f, cache, config, uri))
            names += unit_names([f])
            sizes += unit_sizes([f])
            owner.append(k)
            continue
        digest, spans = units
        for span in spans:
            calls.append((f, cache, config, uri, span, digest))
            names.append(f"{Path(f).name}@{span[0]}")
            sizes.append(span[1] - span[0])
            owner.append(k)
    results = yield Units("read", ingest_file, calls, names, sizes, documents=_documents)
    # A cut that fell inside a record after all (the last record of a unit ran past it):
    # that file is read whole instead, as it would be unsplit.
    redo = sorted({owner[i] for i, r in enumerate(results) if r.get("overran")})
    if redo:
        again = yield Units(
            "read",
            ingest_file,
            [(files[k], cache, config, plan[k][1]) for k in redo],
            unit_names([files[k] for k in redo]),
            unit_sizes([files[k] for k in redo]),
            documents=_documents,
        )
        whole = dict(zip(redo, again, strict=True))
        results = [
            whole.get(owner[i], r)
            for i, r in enumerate(results)
            if owner[i] not in whole or i == owner.index(owner[i])
        ]
    return assemble(results, cache, out_dir, config, files, overwrite=overwrite)


def _documents(result: dict[str, Any]) -> int:
    return result["documents"]


def warc_units(path: str) -> tuple[str, list[tuple[int, int]]] | None:
    """(sha256, byte ranges) of a WARC file large enough to be read as several units
    (`stage_io.unit_count`), cut where records start; None for any other input, which is
    one unit."""
    if path.startswith(HUB_PREFIX) or not os.path.isfile(path):
        return None
    units = stage_io.unit_count(os.path.getsize(path))
    if units <= 1:
        return None
    try:
        if detect_format(Path(path)) != "warc":
            return None
    except InputError:  # unreadable or unknown: one unit, which records why
        return None
    spans = warc_spans(path, units)
    return (sha256_file(path), spans) if len(spans) > 1 else None
