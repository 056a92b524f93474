"""Document shards: the data contract between stages (see DESIGN.md).

Rows: id, text, source (web|books|wiki|dataset), uri, locator, meta (JSON string); extra
columns are kept. Input is a directory of Parquet shards, one `.parquet` file or one `.jsonl`
file; output is always zstd Parquet shards named `part-NNNNN.parquet`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.core.errors import InputError
from corpusforge.core.hashing import sha256_file

SOURCES = ("web", "books", "wiki", "dataset")
DOC_COLUMNS = ("id", "text", "source", "uri", "locator", "meta")
DOC_SCHEMA = pa.schema([(name, pa.string()) for name in DOC_COLUMNS])
SHARD_PATTERN = "part-{:05d}.parquet"
DEFAULT_ROWS_PER_SHARD = 50_000


def shard_name(index: int) -> str:
    return SHARD_PATTERN.format(index)


def list_shards(path: str | Path) -> list[Path]:
    """The input shards of `path`: a shard directory, a `.parquet` file or a `.jsonl` file."""
    p = Path(path)
    if p.is_dir():
        shards = sorted(p.glob("part-*.parquet")) or sorted(p.glob("*.parquet"))
        if not shards:
            shards = sorted(p.glob("*.jsonl"))
        if not shards:
            raise InputError(f"{p}: no Parquet or JSONL document shards in this directory")
        return shards
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    if p.suffix in (".parquet", ".jsonl"):
        return [p]
    raise InputError(f"{p}: expected a directory of shards, a .parquet or a .jsonl file")


def normalise_row(row: Mapping[str, Any], where: str = "row") -> dict[str, Any]:
    if "id" not in row or "text" not in row:
        raise InputError(f"{where}: document rows need at least 'id' and 'text'")
    out = dict(row)
    out["id"] = str(row["id"])
    out["text"] = "" if row["text"] is None else str(row["text"])
    out.setdefault("source", "dataset")
    out.setdefault("uri", "")
    out.setdefault("locator", "")
    meta = out.get("meta")
    if meta is None:
        out["meta"] = "{}"
    elif not isinstance(meta, str):
        out["meta"] = json.dumps(meta, ensure_ascii=False, sort_keys=True)
    for key in ("source", "uri", "locator"):
        out[key] = "" if out[key] is None else str(out[key])
    return out


def rows_to_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows (dicts) to an Arrow table with the document columns first, extras kept."""
    rows = list(rows)
    if not rows:
        return DOC_SCHEMA.empty_table()
    names = list(DOC_COLUMNS) + [
        k for k in dict.fromkeys(k for r in rows for k in r) if k not in DOC_COLUMNS
    ]
    # Column by column: much faster than Table.from_pylist for wide text rows.
    columns = {}
    for name in names:
        values = [r.get(name) for r in rows]
        if name in DOC_COLUMNS:
            columns[name] = pa.array(["" if v is None else v for v in values], pa.string())
        else:
            columns[name] = pa.array(values)
    return pa.table(columns)


def _jsonl_batches(path: Path, batch_size: int) -> Iterator[pa.Table]:
    batch: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise InputError(f"{path}:{lineno}: each JSONL line must be an object")
            batch.append(normalise_row(row, f"{path}:{lineno}"))
            if len(batch) >= batch_size:
                yield rows_to_table(batch)
                batch = []
    if batch:
        yield rows_to_table(batch)


def iter_shard_batches(
    shard: str | Path, batch_size: int = 2048, columns: list[str] | None = None
) -> Iterator[pa.Table]:
    """Stream one shard as Arrow tables of at most `batch_size` rows (constant memory)."""
    shard = Path(shard)
    if shard.suffix == ".jsonl":
        for table in _jsonl_batches(shard, batch_size):
            yield table.select(columns) if columns else table
        return
    try:
        pf = pq.ParquetFile(shard)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{shard}: not a readable Parquet file ({type(exc).__name__})") from exc
    names = pf.schema_arrow.names
    if "id" not in names or "text" not in names:
        raise InputError(f"{shard}: document shards need at least 'id' and 'text' columns")
    for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
        yield pa.Table.from_batches([batch])


def iter_documents(path: str | Path, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Every document row of `path` (directory, .parquet or .jsonl) as a dict."""
    for shard in list_shards(path):
        for table in iter_shard_batches(shard, columns=columns):
            yield from table.to_pylist()


def read_table(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """All rows of `path` in one table: for small data (tests, reports), not for stages."""
    tables = [t for s in list_shards(path) for t in iter_shard_batches(s, columns=columns)]
    return (
        pa.concat_tables(tables, promote_options="default") if tables else DOC_SCHEMA.empty_table()
    )


class ShardWriter:
    """Writes rows to `part-NNNNN.parquet` (zstd), starting a new shard every `rows_per_shard`.

    `outputs` lists (path, rows, sha256) of every finished shard. Files are written under a
    temporary name and renamed when complete, so a crash never leaves a half shard behind.
    """

    def __init__(
        self,
        out_dir: str | Path,
        rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
        first_index: int = 0,
        name_fn=shard_name,
        dictionary_columns: list[str] | None = None,
    ):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.rows_per_shard = rows_per_shard
        self.index = first_index
        self.name_fn = name_fn
        # Parquet tries dictionary encoding on every column unless told which ones repeat
        # (on long unique text it builds the dictionary, then falls back to plain: wasted CPU).
        self._use_dictionary = True if dictionary_columns is None else dictionary_columns
        self.outputs: list[dict[str, Any]] = []
        self._buffer: list[pa.Table] = []
        self._buffered_rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._current_rows = 0
        self._schema: pa.Schema | None = None

    def write_rows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        rows = list(rows)
        if rows:
            self.write_table(rows_to_table(rows))

    def write_table(self, table: pa.Table) -> None:
        while len(table):
            if self._writer is None:
                self._open(table.schema)
            room = self.rows_per_shard - self._current_rows
            part, table = table.slice(0, room), table.slice(room)
            assert self._writer is not None
            self._writer.write_table(
                part.cast(self._schema) if part.schema != self._schema else part
            )
            self._current_rows += len(part)
            if self._current_rows >= self.rows_per_shard:
                self._close_current()

    def _open(self, schema: pa.Schema) -> None:
        if self._schema is None:
            self._schema = schema
        path = self.out_dir / (self.name_fn(self.index) + ".tmp")
        self._writer = pq.ParquetWriter(
            path, self._schema, compression="zstd", use_dictionary=self._use_dictionary
        )
        self._current_rows = 0

    def _close_current(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        tmp = self.out_dir / (self.name_fn(self.index) + ".tmp")
        final = self.out_dir / self.name_fn(self.index)
        tmp.replace(final)
        self.outputs.append(
            {"path": final.name, "rows": self._current_rows, "sha256": sha256_file(final)}
        )
        self._writer = None
        self.index += 1

    def close(self) -> list[dict[str, Any]]:
        self._close_current()
        return self.outputs

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif self._writer is not None:
            self._writer.close()
            (self.out_dir / (self.name_fn(self.index) + ".tmp")).unlink(missing_ok=True)
