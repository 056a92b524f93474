"""Deterministic per-document decisions from id hashes: split, training sample, mixture copies.

Every decision is a pure function of (seed, purpose, document id), so it does not depend on
input order, worker count or which other documents exist: rerunning on the same input gives
the same split and copies, and adding documents never moves existing ones between splits.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from corpusforge.core.errors import ConfigError, InputError
from corpusforge.pipeline.documents import iter_shard_batches

_SCALE = float(1 << 64)


def unit_hash(seed: int, purpose: str, doc_id: str) -> float:
    """A uniform number in [0, 1) fixed by the seed, the purpose and the id."""
    return xxhash.xxh3_64_intdigest(f"{seed}\x1f{purpose}\x1f{doc_id}".encode()) / _SCALE


def split_of(doc_id: str, val_fraction: float, seed: int) -> str:
    return "val" if unit_hash(seed, "split", doc_id) < val_fraction else "train"


def copies_of(doc_id: str, multiplier: float, seed: int) -> int:
    """floor(m) copies, plus one more with probability frac(m): expected copies = m."""
    whole = math.floor(multiplier)
    extra = unit_hash(seed, "mix", doc_id) < multiplier - whole
    return whole + int(extra)


def doc_columns(shard: Path) -> list[str]:
    """The columns the tokenizer reads: id, text, and source where the shard has one."""
    import pyarrow.parquet as pq

    if shard.suffix == ".parquet":
        try:
            names = pq.ParquetFile(shard).schema_arrow.names
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(
                f"{shard}: not a readable Parquet file ({type(exc).__name__})"
            ) from exc
        return ["id", "text"] + (["source"] if "source" in names else [])
    return ["id", "text", "source"]  # JSONL rows are normalised with a default source


def source_bytes(shards: list[Path]) -> dict[str, int]:
    """UTF-8 text bytes per source (Arrow kernels, no Python strings)."""
    totals: Counter[str] = Counter()
    for shard in shards:
        cols = doc_columns(shard)
        for table in iter_shard_batches(shard, batch_size=65_536, columns=cols):
            lengths = pc.binary_length(table["text"]).fill_null(0)
            sources = table["source"] if "source" in cols else None
            if sources is None:
                totals["dataset"] += int(pc.sum(lengths).as_py() or 0)
                continue
            grouped = (
                table.select(["source"])
                .append_column("n", lengths)
                .group_by("source")
                .aggregate([("n", "sum")])
            )
            for src, n in zip(
                grouped["source"].to_pylist(), grouped["n_sum"].to_pylist(), strict=True
            ):
                totals[src or "dataset"] += int(n or 0)
    return dict(sorted(totals.items()))


def mixture_multipliers(
    weights: Mapping[str, float], bytes_by_source: Mapping[str, int]
) -> dict[str, float]:
    """Per-source copy multipliers that give each source its target share of the text.

    The total size stays that of the input: source s with share w_s of the output and b_s of
    the B input bytes is repeated w_s * B / b_s times on average (>1 up-samples, <1 down-samples).
    Sources without a weight get multiplier 0 (left out and counted).
    """
    total = sum(bytes_by_source.values())
    missing = [s for s, w in weights.items() if w > 0 and not bytes_by_source.get(s)]
    if missing:
        raise ConfigError(f"mixture names sources with no text in the input: {sorted(missing)}")
    return {
        s: (round(weights.get(s, 0.0) * total / b, 6) if b else 0.0)
        for s, b in sorted(bytes_by_source.items())
    }
