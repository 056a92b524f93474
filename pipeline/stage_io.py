"""A stage's edges: the inputs it may trust and the output it publishes.

Inputs (`prepare_document_inputs`):
- A directory is read only if it is a complete stage output. Its `manifest.json` lists every
  shard, each of which exists with its recorded row count, and nothing else is there: no
  leftover temporary files and no shard the manifest does not list. A directory without one
  (a crashed or foreign run) is refused unless the caller allows it explicitly; the stage
  then records that in its manifest and audit entry.
- A JSONL file is read line by line into Parquet once (cached by the file's content hash).
  A bad line (invalid JSON, not an object, no `id`/`text`) is quarantined with its line
  number and reason. The valid lines go on, so `in = out + rejected + removed` holds.
- A large input file is read as several units so that every core works on it: a JSONL file
  over `UNIT_MIN_BYTES` as byte ranges cut at line boundaries, a Parquet file over that size
  with several row groups as contiguous runs of row groups. Each unit becomes one Parquet
  shard, cached on its own (keyed by the file's hash and the unit's range, so its id and
  content are the same on every run, and a rerun reuses the units already done), in input
  order, with line numbers counted from the start of the file. Smaller files are one unit,
  read as before.

Outputs (`StagedOutput`): a stage writes into a staging directory beside its output and
publishes it by renaming, so readers see the old output or the whole new one, never half.
A non-empty output directory that is not this stage's own earlier output is refused;
replacing an earlier output needs `overwrite`.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from corpusforge.core.errors import InputError, IntegrityError
from corpusforge.core.hashing import sha256_file, sha256_json
from corpusforge.core.version import code_version
from corpusforge.pipeline.documents import (
    DOC_COLUMNS,
    DOC_SCHEMA,
    ShardWriter,
    list_shards,
    normalise_row,
    rows_to_table,
)
from corpusforge.pipeline.manifest import (
    MANIFEST_NAME,
    REJECTS_NAME,
    Reject,
    read_manifest,
    write_json_atomic,
)
from corpusforge.pipeline.stage import Units, drive_steps

CONVERTED_VERSION = 1
_DONE = "_DONE.json"
_JSONL_ROWS_PER_BATCH = 2048
# How the units of a large input are run: `map_fn(fn, [args, ...])` -> [fn(*args), ...].
MapFn = Callable[[Callable[..., Any], list[tuple[Any, ...]]], list[Any]]
# An input file larger than UNIT_MIN_BYTES is read as several units: UNITS_PER_FILE of them
# (enough for every core of a large machine, and to balance two), each at least UNIT_MIN_BYTES
# and at most UNIT_MAX_BYTES. The count depends on the file's size only, never on the machine,
# so the same file gives the same units (and output shards) everywhere. A smaller file is one
# unit, read as before.
UNIT_MIN_BYTES = 1 << 20
UNIT_MAX_BYTES = 64 << 20
UNITS_PER_FILE = 16


def unit_count(size: int) -> int:
    """How many units a file of `size` bytes is read as."""
    if size <= UNIT_MIN_BYTES:
        return 1
    unit = min(max(-(-size // UNITS_PER_FILE), UNIT_MIN_BYTES), UNIT_MAX_BYTES)
    return math.ceil(size / unit)


@dataclass
class DocumentInputs:
    """What a stage reads: Parquet shards, plus what was quarantined on the way."""

    shards: list[str]
    rejects: list[Reject] = field(default_factory=list)
    incomplete: bool = False  # a directory accepted without a complete manifest

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    def record(self, run: Any) -> None:
        """Add the quarantined lines to a `StageRun` (as read, so counted `in` too)."""
        for reject in self.rejects:
            run.reject(reject)
        run.counts["in"] += self.rejected
        if self.incomplete:
            run.extra["input_incomplete"] = True


def unit_key(input_sha256: str, settings: Any) -> str:
    """The cache key of one unit's result: the sha256 of its input, the settings that decide
    the result (JSON-able), and the code version, so a code change recomputes every unit."""
    return sha256_json({"input": input_sha256, "settings": settings, "code": code_version()})[:32]


def default_cache_root(out_dir: str | Path) -> Path:
    """The cache of a run without a workspace: beside the output, never inside it (the
    output directory is replaced as a whole when it is published)."""
    out = Path(out_dir)
    return out.parent / f".{out.name}.cache"


def prepare_document_inputs(
    path: str | Path,
    cache_root: str | Path,
    *,
    allow_incomplete: bool = False,
    map_fn: MapFn | None = None,
) -> DocumentInputs:
    """The shards of `path` that a stage can read, JSONL converted (see the module doc).
    `map_fn(fn, calls)` runs the units of a large JSONL file (default: one after another).
    A stage job uses `document_inputs` instead, so its driver spreads them."""
    run = map_fn or _serial_map
    return drive_steps(
        document_inputs(path, cache_root, allow_incomplete=allow_incomplete),
        lambda request: run(request.fn, list(request.calls)),
    )


def document_inputs(
    path: str | Path, cache_root: str | Path, *, allow_incomplete: bool = False
) -> Generator[Units, Any, DocumentInputs]:
    """`prepare_document_inputs` as job steps: `inputs = yield from document_inputs(...)`
    inside a stage job, so the units of a large JSONL file are converted by the job's driver
    (on its workers), as a "convert" step."""
    p = Path(path)
    incomplete = False
    if p.is_dir():
        incomplete = not _complete_stage_output(p, allow_incomplete)
    inputs = DocumentInputs(shards=[], incomplete=incomplete)
    for shard in list_shards(p):
        large = unit_count(shard.stat().st_size) > 1
        if shard.suffix == ".jsonl" and large:
            units, rejects = yield from jsonl_units(shard, Path(cache_root) / "inputs")
            inputs.shards.extend(str(u) for u in units)
            inputs.rejects.extend(rejects)
        elif shard.suffix == ".jsonl":
            converted, rejects = convert_jsonl(shard, Path(cache_root) / "inputs")
            inputs.shards.append(str(converted))
            inputs.rejects.extend(rejects)
        elif large:
            inputs.shards.extend(str(u) for u in parquet_units(shard, Path(cache_root) / "inputs"))
        else:
            inputs.shards.append(str(shard))
    return inputs


def _complete_stage_output(directory: Path, allow_incomplete: bool) -> bool:
    """True if `directory` is a complete stage output; else refuse (or allow, when told)."""
    problem = _incompleteness(directory)
    if problem is None:
        return True
    if allow_incomplete:
        return False
    raise InputError(
        f"{directory}: {problem}; not a complete stage output (rerun the stage that writes it, "
        "or pass --allow-incomplete to read it anyway)"
    )


def _incompleteness(directory: Path) -> str | None:
    if not (directory / MANIFEST_NAME).is_file():
        return "no manifest.json"
    try:
        manifest = read_manifest(directory)
    except IntegrityError as exc:
        return str(exc).removeprefix(f"{directory / MANIFEST_NAME}: ")
    listed = {o["path"]: o for o in manifest.get("outputs", []) if isinstance(o, dict)}
    for rel, record in listed.items():
        shard = directory / rel
        if not shard.is_file():
            return f"{rel} is listed in the manifest but missing"
        if shard.suffix == ".parquet" and "rows" in record:
            try:
                rows = pq.read_metadata(shard).num_rows
            except Exception:  # a truncated file has no readable footer
                return f"{rel} is damaged (unreadable Parquet footer)"
            if rows != record["rows"]:
                return f"{rel} holds {rows} rows, the manifest says {record['rows']}"
    unlisted = sorted(
        f.name
        for f in directory.iterdir()
        if f.is_file() and (f.name.endswith(".tmp") or f.name.startswith("part-"))
        if f.name not in listed
    )
    if unlisted:
        return f"{unlisted[0]} is not listed in the manifest"
    return None


def convert_jsonl(path: Path, cache_root: Path) -> tuple[Path, list[Reject]]:
    """`path` as one validated Parquet shard (cached by content); bad lines quarantined."""
    digest = sha256_file(path)
    final = cache_root / f"{digest}-v{CONVERTED_VERSION}"
    done = final / _DONE
    if done.is_file():
        record = json.loads(done.read_text())
        shard = final / record["shard"]
        if shard.is_file() and sha256_file(shard) == record["sha256"]:
            return shard, [Reject(**r) for r in record["rejects"]]
    work = cache_root / f"{digest}.tmp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    rejects = _write_jsonl_as_parquet(path, work)
    shard = work / "part-00000.parquet"
    record = {
        "source": str(path),
        "sha256_source": digest,
        "shard": shard.name,
        "sha256": sha256_file(shard),
        "rejects": [r.model_dump(exclude_none=True) for r in rejects],
    }
    write_json_atomic(work / _DONE, record)
    shutil.rmtree(final, ignore_errors=True)
    work.replace(final)
    return final / shard.name, rejects


def _write_jsonl_as_parquet(path: Path, work: Path, span: _Span | None = None) -> list[Reject]:
    """Extra columns keep their JSON types; if the lines disagree on a column's type (or the
    first lines leave it empty), the file is written again with extra columns as text."""
    import pyarrow as pa

    try:
        return _write_jsonl_once(path, work, extras_as_text=False, span=span)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        shutil.rmtree(work, ignore_errors=True)
        return _write_jsonl_once(path, work, extras_as_text=True, span=span)


@dataclass(frozen=True)
class _Span:
    """Bytes [start, end) of a file, beginning at line `first_line` (counted from 1)."""

    start: int
    end: int
    first_line: int


def _lines(fh, span: _Span | None):
    """(line number, raw line) of the whole file or of one span of it."""
    if span is None:
        return enumerate(fh, 1)
    fh.seek(span.start)
    return enumerate(io.BytesIO(fh.read(span.end - span.start)), span.first_line)


def _write_jsonl_once(
    path: Path, work: Path, extras_as_text: bool, span: _Span | None = None
) -> list[Reject]:
    rejects: list[Reject] = []
    batch: list[dict[str, Any]] = []
    rows = 0
    with ShardWriter(work, rows_per_shard=1 << 62) as writer, open(path, "rb") as fh:
        for lineno, raw in _lines(fh, span):
            if not raw.strip():
                continue
            reason, row = _parse_line(raw)
            if reason is not None:
                rejects.append(Reject(file=str(path), position=lineno, reason=reason))
                continue
            doc = normalise_row(row, f"{path}:{lineno}")
            batch.append(_extras_as_text(doc) if extras_as_text else doc)
            rows += 1
            if len(batch) >= _JSONL_ROWS_PER_BATCH:
                writer.write_table(rows_to_table(batch))
                batch = []
        if batch:
            writer.write_table(rows_to_table(batch))
    if rows == 0:  # every line bad (or none): an empty shard, so the stage still runs
        pq.write_table(DOC_SCHEMA.empty_table(), work / "part-00000.parquet", compression="zstd")
    (work / REJECTS_NAME).write_text(
        "".join(r.model_dump_json(exclude_none=True) + "\n" for r in rejects)
    )
    return rejects


def jsonl_spans(path: Path, units: int) -> list[_Span]:
    """`units` byte ranges of about equal size, each cut after a newline (fewer when lines are
    long), with the line number each one starts at. The same file gives the same spans."""
    size = path.stat().st_size
    cuts = [0]
    with open(path, "rb") as fh:
        for k in range(1, units):
            fh.seek(max(k * size // units, cuts[-1]))
            if fh.tell() > 0:
                fh.seek(fh.tell() - 1)  # a cut right after a newline stays there
            fh.readline()
            if cuts[-1] < fh.tell() < size:
                cuts.append(fh.tell())
        cuts.append(size)
        spans, line, pos = [], 1, 0
        for start, end in zip(cuts, cuts[1:], strict=False):
            while pos < start:  # count the newlines before this span
                fh.seek(pos)
                chunk = fh.read(min(1 << 20, start - pos))
                line += chunk.count(b"\n")
                pos += len(chunk)
            spans.append(_Span(start, end, line))
    return spans


def _serial_map(fn: Callable[..., Any], calls: list[tuple[Any, ...]]) -> list[Any]:
    return [fn(*args) for args in calls]


def convert_jsonl_units(
    path: Path, cache_root: Path, units: int | None = None, map_fn: MapFn | None = None
) -> tuple[list[Path], list[Reject]]:
    """A large JSONL file as several Parquet shards, one per byte range (see the module doc);
    each range is converted and cached on its own, so a rerun reuses the finished ones."""
    run = map_fn or _serial_map
    return drive_steps(jsonl_units(path, cache_root, units), lambda r: run(r.fn, list(r.calls)))


def jsonl_units(
    path: Path, cache_root: Path, units: int | None = None
) -> Generator[Units, Any, tuple[list[Path], list[Reject]]]:
    """`convert_jsonl_units` as job steps (one "convert" step per pass over the ranges)."""
    digest = sha256_file(path)
    spans = jsonl_spans(path, units or unit_count(path.stat().st_size))
    names = [f"{path.name}@{s.start}" for s in spans]
    sizes = [s.end - s.start for s in spans]
    calls = [(path, digest, s, k, cache_root, None) for k, s in enumerate(spans)]
    done = yield Units("convert", _convert_span, calls, names, sizes)
    if len({u[2] for u in done}) > 1:
        # the ranges disagree on an extra column's type: every range with extras as text, so
        # that all shards of the file share one schema
        calls = [(path, digest, s, k, cache_root, True) for k, s in enumerate(spans)]
        done = yield Units("convert", _convert_span, calls, names, sizes)
    return [u[0] for u in done], [r for u in done for r in u[1]]


def _convert_span(
    path: Path, digest: str, span: _Span, k: int, cache_root: Path, as_text: bool | None
) -> tuple[Path, list[Reject], str]:
    """(shard, rejects, schema) of one byte range of `path`, from the cache or converted."""
    mode = "-text" if as_text else ""
    unit = CachedUnit(cache_root, f"{digest}-v{CONVERTED_VERSION}-{span.start}-{span.end}{mode}")
    record = unit.load()
    if record is None:
        work = unit.begin()
        if as_text:
            rejects = _write_jsonl_once(path, work, extras_as_text=True, span=span)
        else:
            rejects = _write_jsonl_as_parquet(path, work, span)
        (work / "part-00000.parquet").replace(work / shard_name_of(k))
        schema = pq.read_schema(work / shard_name_of(k)).to_string(show_schema_metadata=False)
        record = unit.commit(
            {
                "source": str(path),
                "sha256_source": digest,
                "bytes": [span.start, span.end],
                "first_line": span.first_line,
                "shard": shard_name_of(k),
                "schema": schema,
                "rejects": [r.model_dump(exclude_none=True) for r in rejects],
            }
        )
    shard = unit.final / record["shard"]
    return shard, [Reject(**r) for r in record["rejects"]], record["schema"]


def shard_name_of(k: int) -> str:
    return f"part-{k:05d}.parquet"


def parquet_units(path: Path, cache_root: Path, units: int | None = None) -> list[Path]:
    """A large Parquet file as several shards of contiguous row groups (itself when it has
    one row group): each written and cached on its own, in the file's row order."""
    meta = pq.read_metadata(path)
    groups = meta.num_row_groups
    if groups <= 1:
        return [path]
    sizes = [meta.row_group(i).total_byte_size for i in range(groups)]
    units = min(groups, units or unit_count(path.stat().st_size))
    total, done, runs = sum(sizes) or 1, 0, []
    for i, size in enumerate(sizes):  # a new run when a group's midpoint passes the next share
        if not runs or (len(runs) < units and (done + size / 2) * units >= len(runs) * total):
            runs.append([])
        runs[-1].append(i)
        done += size
    digest = sha256_file(path)
    out = []
    for k, run in enumerate(runs):
        unit = CachedUnit(cache_root, f"{digest}-rg-{run[0]}-{run[-1]}")
        record = unit.load()
        if record is None:
            work = unit.begin()
            table = pq.ParquetFile(path).read_row_groups(run)
            pq.write_table(table, work / shard_name_of(k), compression="zstd")
            record = unit.commit(
                {
                    "source": str(path),
                    "sha256_source": digest,
                    "row_groups": run,
                    "shard": shard_name_of(k),
                }
            )
        out.append(unit.final / record["shard"])
    return out


def _extras_as_text(row: dict[str, Any]) -> dict[str, Any]:
    """Extra columns as text (JSON for non-strings): one schema for every line of the file,
    whatever mix of types the lines carry."""
    for key, value in row.items():
        if key not in DOC_COLUMNS and value is not None and not isinstance(value, str):
            row[key] = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return row


def _parse_line(raw: bytes) -> tuple[str | None, dict[str, Any] | None]:
    """(reason, None) for a bad line, (None, row) for a good one. Reasons hold no content."""
    try:
        row = json.loads(raw)
    except UnicodeDecodeError:
        return "not UTF-8 text", None
    except json.JSONDecodeError as exc:
        return f"invalid JSON ({exc.msg})", None
    if not isinstance(row, dict):
        return "not a JSON object", None
    if "id" not in row or "text" not in row:
        return "a document row needs at least 'id' and 'text'", None
    if row["id"] is None or isinstance(row["id"], dict | list):
        return "'id' must be a string or a number", None
    if row["text"] is not None and not isinstance(row["text"], str):
        return "'text' must be a string", None
    for key, value in row.items():
        # JSON can escape a lone surrogate ("\udce9"), which is no Unicode text: Parquet (UTF-8)
        # cannot hold it, so the line is quarantined instead of failing the whole file.
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return f"'{key}' holds a lone surrogate (not valid Unicode)", None
    return None, row


class CachedUnit:
    """The cache directory of one unit of a stage's work (a file, a shard): `<root>/<key>/`.

    The key covers everything that decides the unit's result (input hash, config, code
    version). A unit is written in `<key>.tmp-<pid>` and renamed into place with its completion
    marker, which records the sha256 of every file it holds. A cache is a working directory,
    not a trusted one: a unit whose files no longer match (changed by a bug, a disk fault or a
    person) is recomputed, and `recomputed` says so; it is never published.
    """

    def __init__(self, root: str | Path, key: str):
        self.root = Path(root)
        self.key = key
        self.final = self.root / key
        self.work = self.root / f"{key}.tmp-{os.getpid()}"
        self.recomputed = False

    def load(self) -> dict[str, Any] | None:
        """The unit's completion record if it is complete and intact, else None."""
        done = self.final / _DONE
        if not done.is_file():
            return None
        try:
            record = json.loads(done.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = None
        if isinstance(record, dict) and _files_intact(self.final, record.get("files_sha256")):
            return record
        self.recomputed = True
        return None

    def begin(self) -> Path:
        """A fresh working directory for the unit's files."""
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        return self.work

    def commit(self, record: dict[str, Any]) -> dict[str, Any]:
        """Seal the working directory (file hashes + `record`) and put it in place."""
        files = sorted(f for f in self.work.rglob("*") if f.is_file() and f.name != _DONE)
        sealed = {
            **record,
            "files_sha256": {f.relative_to(self.work).as_posix(): sha256_file(f) for f in files},
        }
        write_json_atomic(self.work / _DONE, sealed)
        shutil.rmtree(self.final, ignore_errors=True)
        self.work.replace(self.final)
        return sealed

    def abandon(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def _files_intact(unit_dir: Path, recorded: Any) -> bool:
    if not isinstance(recorded, dict):
        return False  # written before files were recorded: not verifiable, so recompute
    for rel, digest in recorded.items():
        path = unit_dir / rel
        if not path.is_file() or sha256_file(path) != digest:
            return False
    return True


# --- publishing ----------------------------------------------------------------------------


class StagedOutput:
    """A stage's output directory, written in a staging directory and published by rename.

    `path` is where the stage writes; `publish()` puts it in place of `final` (replacing this
    stage's own earlier output only with `overwrite`); `discard()` removes it. Checked at
    construction, so a refused output directory costs no work.
    """

    def __init__(self, final: str | Path, stage: str, *, overwrite: bool = False):
        self.final = Path(final)
        self.stage = stage
        self.overwrite = overwrite
        check_output_directory(self.final, stage, overwrite=overwrite)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.path = self.final.parent / f".{self.final.name}.staging-{os.getpid()}"
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir()

    def publish(self) -> Path:
        if not (self.path / MANIFEST_NAME).is_file():
            raise IntegrityError(f"{self.final}: the stage wrote no manifest; nothing published")
        check_output_directory(self.final, self.stage, overwrite=self.overwrite)
        old = self.final.parent / f".{self.final.name}.replaced-{os.getpid()}"
        if self.final.exists():
            shutil.rmtree(old, ignore_errors=True)
            self.final.replace(old)
        self.path.replace(self.final)
        shutil.rmtree(old, ignore_errors=True)
        return self.final

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> StagedOutput:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()


def check_output_directory(final: Path, stage: str, *, overwrite: bool) -> None:
    """Refuse to write over anything but this stage's own earlier output (with `overwrite`)."""
    if not final.exists():
        return
    if not final.is_dir():
        raise InputError(f"{final}: output path exists and is not a directory")
    entries = [e for e in final.iterdir() if not e.name.startswith(".cache")]
    if not entries:
        return
    try:
        earlier = read_manifest(final).get("stage")
    except IntegrityError:
        earlier = None
    if earlier != stage:
        raise InputError(
            f"{final}: output directory is not empty and is not an earlier {stage} output; "
            "choose an empty or new directory"
        )
    if not overwrite:
        raise InputError(
            f"{final}: holds an earlier {stage} output; pass --overwrite to replace it"
        )
