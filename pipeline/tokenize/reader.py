"""Read token shards for training: windows across shards, documents, with integrity checks.

    ds = TokenDataset("runs/tokens", split="train")
    x = ds.get_window(start, block_size + 1)    # int64, may span shards

Checks are lazy but sure: the manifest is read and checked when the dataset opens, and each
shard's size, header and XXH3-128 checksum (against the header and the manifest) the first
time it is touched; a truncated, corrupt or swapped shard raises IntegrityError naming the
file, never silent garbage. Shards are memory-mapped; a dataset pickles without its maps, so
it can be handed to DataLoader worker processes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from corpusforge.core.errors import IntegrityError
from corpusforge.pipeline.manifest import MANIFEST_NAME, check_manifest_paths
from corpusforge.pipeline.tokenize.shard_format import (
    MAGIC,
    VERSION,
    ShardHeader,
    map_tokens,
    read_header,
    read_offsets,
    verify_shard,
)


class _Count(int):
    """An int that can also be called: `ds.num_documents` and `ds.num_documents()` both work."""

    def __call__(self) -> int:
        return int(self)


class TokenDataset:
    def __init__(self, path: str | Path, split: str = "train", verify: bool = True):
        self.root = Path(path)
        self.split = split
        self._verify = verify
        manifest_path = self.root / MANIFEST_NAME
        try:
            raw = manifest_path.read_bytes()
            self.manifest: dict[str, Any] = json.loads(raw)
        except FileNotFoundError as exc:
            raise IntegrityError(f"{manifest_path}: token manifest not found") from exc
        except (OSError, ValueError) as exc:
            raise IntegrityError(f"{manifest_path}: unreadable token manifest") from exc
        self._manifest_sha256 = hashlib.sha256(raw).hexdigest()
        self._check_manifest(manifest_path)
        self._records = [o for o in self.manifest["outputs"] if o.get("split") == split]
        if split not in self.manifest["splits"]:
            raise ValueError(f"unknown split {split!r}; have {sorted(self.manifest['splits'])}")
        tokens = np.array([r["tokens"] for r in self._records], dtype=np.int64)
        docs = np.array([r["rows"] for r in self._records], dtype=np.int64)
        self._token_starts = np.concatenate([[0], np.cumsum(tokens)]).astype(np.int64)
        self._doc_starts = np.concatenate([[0], np.cumsum(docs)]).astype(np.int64)
        self._open: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _check_manifest(self, where: Path) -> None:
        m = self.manifest
        fmt = m.get("format", {})
        if m.get("stage") != "tokenize" or fmt.get("magic") != MAGIC.decode():
            raise IntegrityError(f"{where}: not a tokenize manifest")
        if fmt.get("version") != VERSION:
            raise IntegrityError(f"{where}: unsupported token format version {fmt.get('version')}")
        for key in ("tokenizer", "splits", "outputs"):
            if key not in m:
                raise IntegrityError(f"{where}: manifest lacks '{key}'")
        check_manifest_paths(self.root, m, where)

    # -- properties -------------------------------------------------------------------------
    @property
    def num_tokens(self) -> int:
        return int(self._token_starts[-1])

    @property
    def num_documents(self) -> _Count:
        return _Count(int(self._doc_starts[-1]))

    @property
    def vocab_size(self) -> int:
        return int(self.manifest["tokenizer"]["vocab_size"])

    @property
    def eot_id(self) -> int:
        return int(self.manifest["tokenizer"]["eot_id"])

    @property
    def pad_id(self) -> int:
        return int(self.manifest["tokenizer"]["pad_id"])

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.manifest["tokenizer"]["dtype"])

    @property
    def tokenizer_dir(self) -> Path:
        return self.root / self.manifest["tokenizer"]["dir"]

    @property
    def manifest_sha256(self) -> str:
        return self._manifest_sha256

    @property
    def shards(self) -> list[Path]:
        return [self.root / r["path"] for r in self._records]

    def __len__(self) -> int:
        return self.num_tokens

    # -- access -----------------------------------------------------------------------------
    def _shard(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(tokens memmap, document offsets) of shard i, verified on first use."""
        if i not in self._open:
            record = self._records[i]
            path = self.root / record["path"]
            if not path.exists():
                raise IntegrityError(f"{path}: token shard listed in the manifest is missing")
            header = verify_shard(path) if self._verify else read_header(path)
            self._match_manifest(path, header, record)
            self._open[i] = (map_tokens(path, header), read_offsets(path, header))
        return self._open[i]

    def _match_manifest(self, path: Path, header: ShardHeader, record: dict[str, Any]) -> None:
        if header.dtype != self.dtype:
            raise IntegrityError(f"{path}: token width differs from the manifest")
        if header.num_tokens != record["tokens"] or header.num_docs != record["rows"]:
            raise IntegrityError(f"{path}: token or document count differs from the manifest")
        if header.checksum != record["checksum"]:
            raise IntegrityError(f"{path}: checksum differs from the manifest (replaced shard)")

    def get_window(self, start: int, length: int) -> np.ndarray:
        """`length` tokens (int64) from global token offset `start` of this split."""
        if length < 0 or start < 0 or start + length > self.num_tokens:
            raise IndexError(
                f"window [{start}, {start + length}) outside the {self.num_tokens} tokens "
                f"of split {self.split!r}"
            )
        out = np.empty(length, dtype=np.int64)
        pos, filled = start, 0
        while filled < length:
            i = int(np.searchsorted(self._token_starts, pos, side="right")) - 1
            tokens, _ = self._shard(i)
            local = pos - int(self._token_starts[i])
            take = min(length - filled, len(tokens) - local)
            out[filled : filled + take] = tokens[local : local + take]
            filled += take
            pos += take
        return out

    def document(self, i: int) -> np.ndarray:
        """Document `i` of this split (int64 tokens, ending with the end-of-text id)."""
        if not 0 <= i < self.num_documents:
            raise IndexError(f"document {i} outside the {int(self.num_documents)} documents")
        s = int(np.searchsorted(self._doc_starts, i, side="right")) - 1
        tokens, offsets = self._shard(s)
        local = i - int(self._doc_starts[s])
        return np.asarray(tokens[offsets[local] : offsets[local + 1]], dtype=np.int64)

    def iter_documents(self) -> Iterator[np.ndarray]:
        for s in range(len(self._records)):
            tokens, offsets = self._shard(s)
            for a, b in zip(offsets[:-1], offsets[1:], strict=True):
                yield np.asarray(tokens[a:b], dtype=np.int64)

    def check_index(self) -> None:
        """Every shard's presence, header, size and document index against the manifest, without
        reading token content (cheap: a few bytes per shard). Checksums stay lazy: each shard's
        is checked the first time it is read."""
        for record in self._records:
            path = self.root / record["path"]
            if not path.exists():
                raise IntegrityError(f"{path}: token shard listed in the manifest is missing")
            header = read_header(path)
            self._match_manifest(path, header, record)
            offsets = read_offsets(path, header)
            if (
                len(offsets) != header.num_docs + 1
                or offsets[0] != 0
                or offsets[-1] != header.num_tokens
                or np.any(np.diff(offsets) < 0)
            ):
                raise IntegrityError(f"{path}: corrupt document index")

    def verify(self) -> None:
        """Check every shard in full now (checksums included) instead of on first use."""
        for i in range(len(self._records)):
            self._shard(i)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_open"] = {}  # memory maps are reopened (and re-verified) in the new process
        return state
