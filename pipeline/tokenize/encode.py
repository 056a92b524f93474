"""Encode one input document shard into a cached "chunk" of tokens per split.

A chunk holds, for each split, the raw token stream (`<split>.tokens`, documents back to back,
each ending with end-of-text) and a document table (`<split>.docs.parquet`: id, source, copy,
tokens). Chunks are keyed by the input file's sha256, the tokenizer hash, the encode settings
and the code version, so a rerun reuses every finished chunk. `assemble` cuts shards from them.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.core.errors import InputError
from corpusforge.core.hashing import sha256_file
from corpusforge.pipeline import special_tokens as st
from corpusforge.pipeline.documents import iter_shard_batches
from corpusforge.pipeline.stage_io import CachedUnit, unit_key
from corpusforge.pipeline.tokenize.sampling import copies_of, doc_columns, split_of
from corpusforge.pipeline.tokenize.shard_format import token_dtype
from corpusforge.pipeline.tokenize.tokenizer import load_tokenizer, special_ids

SPLITS = ("train", "val")
DONE_NAME = "_DONE.json"
DOC_TABLE_SCHEMA = pa.schema(
    [("id", pa.string()), ("source", pa.string()), ("copy", pa.int32()), ("tokens", pa.int64())]
)
_BLANK = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]*")
# Markers that must not appear as special tokens inside documents: a document's literal
# "<|endoftext|>" would otherwise end it early. PII placeholders stay special on purpose.
CONTROL_MARKERS = (st.EOT, st.PAD, *st.CHAT_TOKENS)
_CONTROL_RE = re.compile("|".join(re.escape(m) for m in CONTROL_MARKERS))


@dataclass
class EncodePlan:
    """Everything an encode worker needs (small, picklable)."""

    tokenizer_dir: str
    tokenizer_sha256: str
    val_fraction: float
    seed: int
    batch_bytes: int
    multipliers: dict[str, float] | None = None  # None: every source once
    settings: dict[str, Any] = field(default_factory=dict)

    def chunk_key(self, input_sha256: str) -> str:
        settings = {
            "tokenizer": self.tokenizer_sha256,
            "val_fraction": self.val_fraction,
            "seed": self.seed,
            "multipliers": self.multipliers,
        }
        return unit_key(input_sha256, settings)


def is_blank(text: str) -> bool:
    return _BLANK.fullmatch(text) is not None


class _SplitSink:
    """The token file and document table of one split inside a chunk being written."""

    def __init__(self, work: Path, split: str, dtype: np.dtype):
        self.dtype = dtype
        self.tokens_path = work / f"{split}.tokens"
        self.docs_path = work / f"{split}.docs.parquet"
        self._file = open(self.tokens_path, "wb")  # noqa: SIM115 (closed in close())
        self.ids: list[str] = []
        self.sources: list[str] = []
        self.copies: list[int] = []
        self.lengths: list[int] = []

    def add(self, doc_id: str, source: str, tokens: np.ndarray, copies: int) -> None:
        raw = tokens.tobytes()
        for c in range(copies):
            self._file.write(raw)
            self.ids.append(doc_id)
            self.sources.append(source)
            self.copies.append(c)
            self.lengths.append(len(tokens))

    def close(self) -> dict[str, int]:
        self._file.close()
        table = pa.table(
            [self.ids, self.sources, self.copies, self.lengths], schema=DOC_TABLE_SCHEMA
        )
        pq.write_table(table, self.docs_path, compression="zstd")
        return {"documents": len(self.ids), "tokens": int(sum(self.lengths))}


def encode_texts(tokenizer, texts: list[str], eot_id: int, dtype: np.dtype) -> list[np.ndarray]:
    """Token arrays (each ending with end-of-text) for `texts`, one batched call."""
    encodings = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    id_lists = [e.ids for e in encodings]
    total = sum(len(ids) for ids in id_lists) + len(id_lists)
    flat = np.fromiter(
        itertools.chain.from_iterable(
            itertools.chain.from_iterable((ids, (eot_id,)) for ids in id_lists)
        ),
        dtype=dtype,
        count=total,
    )
    bounds = np.cumsum([len(ids) + 1 for ids in id_lists])
    return np.split(flat, bounds[:-1])


def _encode_one(tokenizer, text: str, eot_id: int, dtype: np.dtype) -> np.ndarray | None:
    try:
        return encode_texts(tokenizer, [text], eot_id, dtype)[0]
    except Exception:
        return None


def encode_with_literal_markers(tokenizer, text: str, eot_id: int, dtype: np.dtype) -> np.ndarray:
    """Encode a document that contains literal control markers as plain text, not specials.

    Each marker is encoded in two halves ("<|" and "endoftext|>"), neither of which is a
    special token, so decoding gives the exact text back and no document ends early.
    """
    pieces: list[str] = []
    pos = 0
    for m in _CONTROL_RE.finditer(text):
        pieces += [text[pos : m.start()], m.group()[:2], m.group()[2:]]
        pos = m.end()
    pieces.append(text[pos:])
    pieces = [p for p in pieces if p]
    ids = [i for e in tokenizer.encode_batch_fast(pieces, add_special_tokens=False) for i in e.ids]
    return np.asarray(ids + [eot_id], dtype=dtype)


def encode_input_shard(shard: str, cache_root: str | Path, plan: EncodePlan) -> dict[str, Any]:
    """Encode one input shard into its chunk directory (or reuse it); return the chunk record.

    Blank documents are skipped and counted; documents of sources the mixture leaves out are
    counted. An unreadable input shard raises InputError (the caller quarantines it).
    """
    t0 = time.perf_counter()
    path = Path(shard)
    file_sha = sha256_file(path)
    key = plan.chunk_key(file_sha)
    unit = CachedUnit(cache_root, key)
    if (cached := unit.load()) is not None:
        return {**cached, "path": str(path), "chunk_dir": str(unit.final), "cached": True}

    ids_info = special_ids(plan.tokenizer_dir)
    eot_id = ids_info["eot_id"]
    dtype = token_dtype(ids_info["vocab_size"])
    tokenizer = load_tokenizer(plan.tokenizer_dir)
    work = unit.begin()
    sinks = {split: _SplitSink(work, split, dtype) for split in SPLITS}
    counts: Counter[str] = Counter()
    by_source: dict[str, Counter[str]] = {}

    pending: list[tuple[str, str, str, int]] = []  # (id, source, split, copies)
    pending_texts: list[str] = []
    pending_bytes = 0

    def flush() -> None:
        nonlocal pending, pending_texts, pending_bytes
        if not pending:
            return
        try:
            arrays: list[np.ndarray | None] = encode_texts(tokenizer, pending_texts, eot_id, dtype)
        except Exception:  # e.g. lone surrogates from JSONL: find the bad ones one by one
            arrays = [_encode_one(tokenizer, t, eot_id, dtype) for t in pending_texts]
        for (doc_id, source, split, copies), tokens, text in zip(
            pending, arrays, pending_texts, strict=True
        ):
            if tokens is None:
                counts["skipped_unencodable"] += 1
                continue
            _account(by_source, source, text, tokens, copies)
            sinks[split].add(doc_id, source, tokens, copies)
            counts["documents_out"] += 1
        pending, pending_texts, pending_bytes = [], [], 0

    try:
        cols = doc_columns(path)
        for table in iter_shard_batches(path, batch_size=2048, columns=cols):
            ids = table["id"].to_pylist()
            texts = table["text"].to_pylist()
            sources = table["source"].to_pylist() if "source" in cols else [None] * len(ids)
            for doc_id, text, source in zip(ids, texts, sources, strict=True):
                counts["documents_in"] += 1
                source = source or "dataset"
                if doc_id is None:
                    counts["skipped_no_id"] += 1
                    continue
                doc_id = str(doc_id)
                if not text or is_blank(text):
                    counts["skipped_blank"] += 1
                    continue
                copies = (
                    1
                    if plan.multipliers is None
                    else copies_of(doc_id, plan.multipliers.get(source, 0.0), plan.seed)
                )
                if copies == 0:
                    counts["excluded_by_mixture"] += 1
                    continue
                split = split_of(doc_id, plan.val_fraction, plan.seed)
                if "<|" in text and _CONTROL_RE.search(text):
                    counts["literal_control_markers"] += 1
                    flush()  # keep documents in input order
                    try:
                        tokens = encode_with_literal_markers(tokenizer, text, eot_id, dtype)
                    except Exception:
                        counts["skipped_unencodable"] += 1
                        continue
                    _account(by_source, source, text, tokens, copies)
                    sinks[split].add(doc_id, source, tokens, copies)
                    counts["documents_out"] += 1
                    continue
                pending.append((doc_id, source, split, copies))
                pending_texts.append(text)
                pending_bytes += len(text)
                if pending_bytes >= plan.batch_bytes:
                    flush()
        flush()
    except InputError:
        for sink in sinks.values():
            sink._file.close()
        unit.abandon()
        raise
    split_stats = {split: sink.close() for split, sink in sinks.items()}
    record = {
        "path": str(path),
        "sha256": file_sha,
        "key": key,
        "dtype": dtype.str,
        "splits": split_stats,
        "counts": dict(counts),
        "by_source": {s: dict(c) for s, c in sorted(by_source.items())},
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if unit.recomputed:
        record["counts"]["cache_recomputed"] = 1
    return {**unit.commit(record), "chunk_dir": str(unit.final), "cached": False}


def _account(
    by_source: dict[str, Counter[str]], source: str, text: str, tokens: np.ndarray, copies: int
) -> None:
    c = by_source.setdefault(source, Counter())
    c["documents"] += 1
    c["copies"] += copies
    c["text_bytes"] += len(text.encode("utf-8", "surrogatepass"))
    c["text_tokens"] += len(tokens) - 1  # without the end-of-text
    c["tokens_out"] += len(tokens) * copies
