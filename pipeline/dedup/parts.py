"""Signature parts on disk: a shard's work directory or a batch of the persistent index.

A part holds `docs.parquet` (at least `id`, `content`, `title`, `sig_row`), `signatures.npy`
(rows x num_perm), `bands.npy` (bands x rows: one band contiguous) and the shingle sets
(`shingles.npy`, `offsets.npy`). Arrays are memory-mapped: the clustering step touches only
the rows of candidate documents, so memory grows with the number of documents, not text.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from corpusforge.pipeline.dedup.shingles import jaccard

ARRAYS = ("signatures", "bands", "shingles", "offsets")


class Part:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def _array(self, name: str) -> np.ndarray:
        return np.load(self.path / f"{name}.npy", mmap_mode="r")

    @cached_property
    def signatures(self) -> np.ndarray:
        return self._array("signatures")

    @cached_property
    def bands(self) -> np.ndarray:
        return self._array("bands")

    @cached_property
    def shingle_hashes(self) -> np.ndarray:
        return self._array("shingles")

    @cached_property
    def offsets(self) -> np.ndarray:
        return np.asarray(self._array("offsets"))

    def docs(self, columns: list[str] | None = None):
        return pq.read_table(self.path / "docs.parquet", columns=columns)

    def shingles(self, row: int) -> np.ndarray:
        return np.asarray(self.shingle_hashes[self.offsets[row] : self.offsets[row + 1]])


class SignatureStore:
    """Signatures and shingle sets of documents spread over parts, addressed by (part, row)."""

    def __init__(self, parts: list[Part], part_of: np.ndarray, row_of: np.ndarray):
        self.parts = parts
        self.part_of = part_of
        self.row_of = row_of

    def signature(self, u: int) -> np.ndarray:
        return np.asarray(self.parts[self.part_of[u]].signatures[self.row_of[u]])

    def signatures(self, us: np.ndarray) -> np.ndarray:
        out = np.empty((us.size, self.parts[0].signatures.shape[1]), dtype=np.uint32)
        for k, u in enumerate(us):
            out[k] = self.parts[self.part_of[u]].signatures[self.row_of[u]]
        return out

    def shingles(self, u: int) -> np.ndarray:
        return self.parts[self.part_of[u]].shingles(int(self.row_of[u]))

    def jaccard(self, u: int, v: int) -> float:
        return jaccard(self.shingles(u), self.shingles(v))
