"""Cut the encoded chunks of one split into `part-NNNNN.bin` shards with document tables.

A shard is closed before the document that would take it past `shard_tokens` (documents never
span shards; a single larger document gets a shard of its own). Next to each shard,
`part-NNNNN.docs.parquet` lists its documents in order (id, source, copy, start, tokens): the
lineage from shard positions back to document ids. Shard records go into the manifest.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpusforge.core.hashing import sha256_file
from corpusforge.pipeline.tokenize.shard_format import ShardFileWriter

SHARD_PATTERN = "part-{:05d}"
DOCS_SUFFIX = ".docs.parquet"
DOCS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("copy", pa.int32()),
        ("start", pa.int64()),
        ("tokens", pa.int64()),
    ]
)


def docs_path_for(shard_path: Path) -> Path:
    return shard_path.with_name(shard_path.stem + DOCS_SUFFIX)


def write_shard(
    root: Path, rel_path: str, split: str, dtype: np.dtype, tokens: np.ndarray, docs: pa.Table
) -> dict[str, Any]:
    """Write one complete shard (tokens of `docs` back to back) and its document table."""
    writer = ShardFileWriter(root / rel_path, dtype)
    try:
        writer.write_documents(tokens, docs["tokens"].to_numpy())
        header = writer.close()
    except BaseException:
        writer.abort()
        raise
    return _finish(root, rel_path, split, header, docs)


def _finish(root: Path, rel_path: str, split: str, header, docs: pa.Table) -> dict[str, Any]:
    lengths = docs["tokens"].to_numpy()
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    table = pa.table(
        {
            "id": docs["id"],
            "source": docs["source"],
            "copy": docs["copy"],
            "start": pa.array(starts if len(docs) else [], pa.int64()),
            "tokens": docs["tokens"],
        },
        schema=DOCS_SCHEMA,
    )
    shard_path = root / rel_path
    docs_path = docs_path_for(shard_path)
    pq.write_table(table, docs_path, compression="zstd")
    sources: dict[str, Counter[str]] = {}
    for src, n in zip(docs["source"].to_pylist(), lengths.tolist(), strict=True):
        c = sources.setdefault(src, Counter())
        c["documents"] += 1
        c["tokens"] += n
    return {
        "path": rel_path,
        "split": split,
        "rows": header.num_docs,
        "tokens": header.num_tokens,
        "sha256": sha256_file(shard_path),
        "checksum": header.checksum,
        "sources": {s: dict(c) for s, c in sorted(sources.items())},
        "doc_table": {
            "path": str(Path(rel_path).with_name(docs_path.name)),
            "sha256": sha256_file(docs_path),
        },
    }


class SplitShardWriter:
    """Streams (tokens, document table) pieces into consecutive shards of one split."""

    def __init__(self, root: Path, split: str, dtype: np.dtype, shard_tokens: int):
        self.root = root
        self.split = split
        self.dtype = dtype
        self.shard_tokens = shard_tokens
        (root / split).mkdir(parents=True, exist_ok=True)
        self.records: list[dict[str, Any]] = []
        self._writer: ShardFileWriter | None = None
        self._docs: list[pa.Table] = []

    def _rel(self) -> str:
        return f"{self.split}/{SHARD_PATTERN.format(len(self.records))}.bin"

    def add(self, tokens: np.ndarray, docs: pa.Table) -> None:
        """Append documents (`docs` rows with a `tokens` length each, in `tokens` order)."""
        lengths = docs["tokens"].to_numpy()
        ends = np.cumsum(lengths)
        pos = 0  # documents of this piece already written
        while pos < len(lengths):
            used = self._writer.num_tokens if self._writer else 0
            base = ends[pos - 1] if pos else 0
            fit = int(np.searchsorted(ends[pos:] - base, self.shard_tokens - used, side="right"))
            if fit == 0 and used:  # the next document does not fit: start a new shard
                self._close()
                continue
            take = max(fit, 1)
            if self._writer is None:
                self._writer = ShardFileWriter(self.root / self._rel(), self.dtype)
            stop = ends[pos + take - 1]
            self._writer.write_documents(tokens[base:stop], lengths[pos : pos + take])
            self._docs.append(docs.slice(pos, take))
            pos += take
            if self._writer.num_tokens >= self.shard_tokens:
                self._close()

    def _close(self) -> None:
        if self._writer is None:
            return
        rel = self._rel()
        header = self._writer.close()
        docs = pa.concat_tables(self._docs) if self._docs else DOCS_SCHEMA.empty_table()
        self.records.append(_finish(self.root, rel, self.split, header, docs))
        self._writer, self._docs = None, []

    def close(self) -> list[dict[str, Any]]:
        self._close()
        return self.records

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()


def read_doc_table(shard_path: Path, columns: list[str] | None = None) -> pa.Table:
    return pq.read_table(docs_path_for(shard_path), columns=columns)


def find_rows(table: pa.Table, doc_ids: set[str]) -> np.ndarray:
    """Boolean mask of the rows whose id is in `doc_ids`."""
    if not doc_ids or not len(table):
        return np.zeros(len(table), dtype=bool)
    mask = pc.is_in(table["id"], value_set=pa.array(sorted(doc_ids), pa.string()))
    return mask.to_numpy(zero_copy_only=False)
