"""The persistent dedup index: signatures, band keys and shingle hash sets of kept documents.

A directory of parts (one per shard of each batch, the same layout as a shard's work
directory) plus `index.json`, which names the parts and the signature parameters; a batch
run against the index only adds parts, so the next crawl is deduplicated against everything
kept before without recomputing it. It never holds text: ids, titles, 64-bit content hashes,
MinHash signatures and 32-bit shingle hashes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.core.errors import ConfigError
from corpusforge.pipeline.dedup.config import DedupConfig
from corpusforge.pipeline.dedup.parts import Part
from corpusforge.pipeline.manifest import write_json_atomic

INDEX_FILE = "index.json"


class DedupIndex:
    def __init__(self, path: str | Path, config: DedupConfig):
        self.path = Path(path)
        self.params = config.signature_params()
        meta_path = self.path / INDEX_FILE
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta["params"] != self.params:
                raise ConfigError(
                    f"{self.path}: dedup index was built with {meta['params']}, "
                    f"this run uses {self.params}"
                )
            self.meta: dict[str, Any] = meta
        else:
            self.meta = {"params": self.params, "parts": [], "documents": 0, "batches": 0}
        self.parts = [Part(self.path / name) for name in self.meta["parts"]]

    @property
    def size(self) -> int:
        return int(self.meta["documents"])

    def docs(self) -> pa.Table:
        """id, content, title of every indexed document, in index order."""
        tables = [p.docs(["id", "content", "title"]) for p in self.parts]
        if not tables:
            return pa.table(
                {
                    "id": pa.array([], pa.string()),
                    "content": pa.array([], pa.uint64()),
                    "title": pa.array([], pa.string()),
                }
            )
        return pa.concat_tables(tables)

    def add_part(self, source: Part, rows: np.ndarray, docs: pa.Table) -> None:
        """Copy `rows` of a shard's signature part (kept documents) into a new index part."""
        name = f"part-{len(self.meta['parts']):06d}"
        tmp = self.path / f"{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        rows = np.asarray(rows, dtype=np.int64)
        np.save(tmp / "signatures.npy", np.asarray(source.signatures[rows]))
        np.save(tmp / "bands.npy", np.ascontiguousarray(np.asarray(source.bands)[:, rows]))
        counts = source.offsets[rows + 1] - source.offsets[rows]
        offsets = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        sh = np.empty(int(offsets[-1]), dtype=np.uint32)
        for k, r in enumerate(rows.tolist()):
            sh[offsets[k] : offsets[k + 1]] = source.shingles(r)
        np.save(tmp / "shingles.npy", sh)
        np.save(tmp / "offsets.npy", offsets)
        docs = docs.select(["id", "content", "title"]).append_column(
            "sig_row", pa.array(np.arange(rows.size), pa.int64())
        )
        pq.write_table(docs, tmp / "docs.parquet", compression="zstd")
        shutil.rmtree(self.path / name, ignore_errors=True)
        tmp.rename(self.path / name)
        self.meta["parts"].append(name)
        self.meta["documents"] += rows.size
        self.parts.append(Part(self.path / name))

    def commit(self) -> None:
        """Make the added parts visible (index.json is replaced atomically, last)."""
        self.meta["batches"] += 1
        self.path.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path / INDEX_FILE, self.meta)
