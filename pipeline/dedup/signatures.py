"""Per-shard work: normalise, shingle, MinHash and band every document of one input shard.

Runs in a worker process per shard and writes, under the shard's work directory, only
numbers and ids (never text): `docs.parquet` (row, id, source, title, length, content hash,
signature row), `signatures.npy`, `bands.npy`, and the sorted shingle hash sets
(`shingles.npy` + `offsets.npy`) that exact-Jaccard verification reads back memory-mapped.
Documents whose normalised text repeats one earlier in the shard share its signature row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from corpusforge.core.hashing import sha256_file
from corpusforge.pipeline.dedup.config import DedupConfig
from corpusforge.pipeline.dedup.minhash import band_keys, permutations, signatures
from corpusforge.pipeline.dedup.shingles import normalize_for_dedup, shingle_sets
from corpusforge.pipeline.documents import iter_shard_batches
from corpusforge.pipeline.stage_io import CachedUnit, unit_key

DONE_NAME = "_DONE.json"
NO_SIGNATURE = -1  # sig_row of a document with empty normalised text
_TITLE_CHARS = 200


def shard_work_key(shard_sha256: str, config: DedupConfig) -> str:
    return unit_key(shard_sha256, config.signature_params())


def _title(meta: Any) -> str:
    if not meta:
        return ""
    try:
        value = json.loads(meta) if isinstance(meta, str) else meta
    except (TypeError, ValueError):
        return ""
    title = value.get("title") if isinstance(value, dict) else None
    return str(title)[:_TITLE_CHARS] if title else ""


def _columns(shard: Path) -> list[str] | None:
    """The columns this step reads (Parquet reads only those; other columns can be large)."""
    if shard.suffix != ".parquet":
        return None
    try:
        names = pq.read_schema(shard).names
    except (pa.ArrowInvalid, OSError):
        return None  # unreadable: iter_shard_batches raises the clear InputError
    return [c for c in ("id", "text", "source", "meta") if c in names or c in ("id", "text")]


class _Accumulator:
    """Signature rows, band keys and shingle sets of one shard, appended batch by batch."""

    def __init__(self) -> None:
        self.sigs: list[np.ndarray] = []
        self.bands: list[np.ndarray] = []
        self.shingles: list[np.ndarray] = []
        self.counts: list[np.ndarray] = []
        self.rows = 0

    def add(self, texts: list[str], config: DedupConfig, perms) -> None:
        hashes, offsets = shingle_sets(texts, config.ngram, config.char_ngram, config.seed)
        sig = signatures(hashes, offsets, perms)
        self.sigs.append(sig)
        self.bands.append(band_keys(sig, *config.banding()))
        self.shingles.append(hashes)
        self.counts.append(np.diff(offsets))
        self.rows += len(texts)

    def save(self, out: Path, num_perm: int, bands: int) -> None:
        def cat(parts, shape, dtype):
            return np.concatenate(parts) if parts else np.empty(shape, dtype)

        np.save(out / "signatures.npy", cat(self.sigs, (0, num_perm), np.uint32))
        # one band per row, contiguous: the bucketing step reads one band at a time
        np.save(out / "bands.npy", np.ascontiguousarray(cat(self.bands, (0, bands), np.uint64).T))
        np.save(out / "shingles.npy", cat(self.shingles, (0,), np.uint32))
        offsets = np.zeros(self.rows + 1, dtype=np.int64)
        np.cumsum(cat(self.counts, (0,), np.int64), out=offsets[1:])
        np.save(out / "offsets.npy", offsets)


def warm_up(config: DedupConfig) -> None:
    """Do once, before a process pool forks, the start-up every worker would repeat: load the
    compiled kernels (with the argument types compute_shard uses) and pyarrow's lazy import
    of pandas (its first `pa.array(list)`), each a noticeable CPU cost (docs/dedup.md)."""
    texts = [normalize_for_dedup(t) for t in ("Warm up, one two three four five", "é 東京")]
    hashes, offsets = shingle_sets(texts, config.ngram, config.char_ngram, config.seed)
    shingle_sets(texts[:1], config.ngram, config.char_ngram, config.seed)  # ASCII-only batch
    signatures(hashes, offsets, permutations(config.num_perm, config.seed))
    pa.array([0], pa.int64())


def compute_shard(shard: str | Path, work_root: str | Path, config: DedupConfig) -> dict[str, Any]:
    """Signatures of one shard in `work_root/<key>/`; reused when already complete."""
    shard = Path(shard)
    shard_sha = sha256_file(shard)
    unit = CachedUnit(work_root, shard_work_key(shard_sha, config))
    final = unit.final
    if (cached := unit.load()) is not None:
        return {**cached, "shard": str(shard), "cached": True}
    tmp = unit.begin()
    perms = permutations(config.num_perm, config.seed)
    acc = _Accumulator()
    seen: dict[int, int] = {}  # content hash -> signature row, within this shard
    cols: dict[str, list] = {k: [] for k in ("row", "id", "source", "title", "length", "content")}
    sig_rows: list[int] = []
    pending: list[str] = []
    row = 0
    n_bytes = 0
    for table in iter_shard_batches(shard, batch_size=config.batch_docs, columns=_columns(shard)):
        data = table.to_pydict()
        n = table.num_rows
        sources = data.get("source") or [""] * n
        metas = data.get("meta") or [None] * n
        n_bytes += pc.sum(pc.binary_length(table["text"])).as_py() or 0  # UTF-8 bytes, no copy
        for i in range(n):
            text = normalize_for_dedup(data["text"][i] or "")
            content = xxhash.xxh3_64_intdigest(text.encode("utf-8", "surrogatepass"))
            cols["row"].append(row)
            cols["id"].append(str(data["id"][i]))
            cols["source"].append(sources[i] or "")
            cols["title"].append(_title(metas[i]))
            cols["length"].append(len(text))
            cols["content"].append(content)
            if not text:
                sig_rows.append(NO_SIGNATURE)
            elif content in seen:
                sig_rows.append(seen[content])
            else:
                seen[content] = acc.rows + len(pending)
                sig_rows.append(seen[content])
                pending.append(text)
            row += 1
        if len(pending) >= config.batch_docs:
            acc.add(pending, config, perms)
            pending = []
    if pending:
        acc.add(pending, config, perms)

    bands, _ = config.banding()
    acc.save(tmp, config.num_perm, bands)
    table = pa.table(
        {
            "row": pa.array(cols["row"], pa.int64()),
            "id": pa.array(cols["id"], pa.string()),
            "source": pa.array(cols["source"], pa.string()),
            "title": pa.array(cols["title"], pa.string()),
            "length": pa.array(cols["length"], pa.int64()),
            "content": pa.array(cols["content"], pa.uint64()),
            "sig_row": pa.array(sig_rows, pa.int64()),
        }
    )
    pq.write_table(table, tmp / "docs.parquet", compression="zstd")
    summary = {
        "shard": str(shard),
        "sha256": shard_sha,
        "work_dir": str(final),
        "documents": row,
        "signatures": acc.rows,
        "bytes": n_bytes,
    }
    summary["cache_recomputed"] = int(unit.recomputed)
    return {**unit.commit(summary), "cached": False}
