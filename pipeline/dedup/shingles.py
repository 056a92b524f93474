"""Normalisation and vectorised shingle hashing.

Documents are normalised (NFKC, lower case, digits to 0, punctuation and whitespace to one
space, characters of scripts written without spaces split apart) and cut into word n-grams;
a document with fewer than n words uses character n-grams instead. Every shingle is a
substring of the normalised text, so one polynomial prefix hash over a whole batch (numpy,
arithmetic mod 2**64) hashes all shingles at once: hash(s, e) = (H[e] - H[s]) * p**-s. The
result is mixed (murmur3 fmix64) and kept as 32 bits, the width datasketch uses too.

A document's shingle set is returned sorted and unique, so exact Jaccard of two documents is
one `np.intersect1d` on stored hashes, and MinHash never sees a shingle twice.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import numpy as np

# Scripts written without spaces between words: every character becomes its own "word",
# so word n-grams there are character n-grams (CJK, kana, Thai, Lao, Myanmar, Khmer).
_NO_SPACE_SCRIPT = re.compile(
    "([\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\uff66-\uff9f])"
)


def _translation_table() -> dict[int, str]:
    """Punctuation, symbols, separators and control characters to a space; digits to 0."""
    table = {}
    for cp in range(0x30000):  # BMP and the CJK extension planes; the rest is rare
        cat = unicodedata.category(chr(cp))
        if cat == "Nd":
            table[cp] = "0"
        elif cat[0] in "PSZ" or cat in ("Cc", "Cf"):
            table[cp] = " "
    return table


_TABLE = _translation_table()

PIECE_CHARS = 1 << 20  # long documents are hashed in overlapping pieces of this size
_GROUP_CHARS = 1 << 21  # pieces hashed together in one numpy pass
_BASE = np.uint64(0x9E3779B97F4A7C15 | 1)  # odd, so it has an inverse mod 2**64
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_S32 = np.uint64(32)


def normalize_for_dedup(text: str) -> str:
    """The text shingles are cut from: case, digits, punctuation and spacing do not count."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_TABLE)
    if not text.isascii():
        text = _NO_SPACE_SCRIPT.sub(r" \1 ", text)
    return " ".join(text.split())


@cache
def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """p**i and p**-i mod 2**64 for i < n (n a power of two, cached: batches reuse them)."""
    inv = pow(int(_BASE), -1, 1 << 64)
    with np.errstate(over="ignore"):
        pw = np.full(n, _BASE, dtype=np.uint64)
        pw[0] = 1
        np.multiply.accumulate(pw, out=pw)
        ipw = np.full(n, np.uint64(inv), dtype=np.uint64)
        ipw[0] = 1
        np.multiply.accumulate(ipw, out=ipw)
    return pw, ipw


def _fmix32(h: np.ndarray, seed: int) -> np.ndarray:
    """murmur3's 64-bit finaliser (seeded), top 32 bits: every input bit moves every output bit."""
    h ^= np.uint64(seed)
    h ^= h >> _S33
    h *= _M1
    h ^= h >> _S33
    h *= _M2
    h ^= h >> _S33
    return (h >> _S32).astype(np.uint32)


def _split_long(text: str, overlap_words: int, overlap_chars: int, word_mode: bool) -> list[str]:
    """Overlapping pieces of a long text such that every shingle lies wholly in one piece."""
    pieces, start = [], 0
    while start < len(text):
        end = start + PIECE_CHARS
        if end >= len(text):
            pieces.append(text[start:])
            break
        if word_mode:
            cut = text.find(" ", end, end + PIECE_CHARS)
            cut = end if cut < 0 else cut  # one huge token: cut it (loses at most n-1 shingles)
            pieces.append(text[start:cut])
            nxt = cut
            for _ in range(overlap_words):  # back up so the next piece repeats n-1 words
                prev = text.rfind(" ", start, nxt)
                if prev < 0:
                    break
                nxt = prev
            start = nxt + 1 if nxt > start else cut + 1
        else:
            pieces.append(text[start:end])
            start = end - overlap_chars
    return pieces


def _hash_group(pieces: list[str], word_mode: np.ndarray, ngram: int, char_ngram: int, seed: int):
    """Shingle hashes of pieces joined by spaces; returns (piece index, hash) per shingle."""
    buf = " ".join(pieces)
    codes = np.frombuffer(buf.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = codes.size
    pw, ipw = _powers(1 << max(16, n.bit_length()))
    with np.errstate(over="ignore"):
        prefix = np.empty(n + 1, dtype=np.uint64)
        prefix[0] = 0
        np.cumsum(codes * pw[:n], out=prefix[1:])
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    piece_start = np.zeros(len(pieces), dtype=np.int64)
    np.cumsum(lengths[:-1] + 1, out=piece_start[1:])
    piece_end = piece_start + lengths

    starts, ends, owners = [], [], []
    if word_mode.any():
        is_space = codes == 32
        edge = np.diff(np.concatenate(([False], ~is_space, [False])).astype(np.int8))
        w_start = np.flatnonzero(edge == 1)
        w_end = np.flatnonzero(edge == -1)
        w_piece = np.searchsorted(piece_start, w_start, side="right") - 1
        keep = word_mode[w_piece]
        w_start, w_end, w_piece = w_start[keep], w_end[keep], w_piece[keep]
        if w_start.size >= ngram:
            same = w_piece[: w_piece.size - ngram + 1] == w_piece[ngram - 1 :]
            starts.append(w_start[: w_start.size - ngram + 1][same])
            ends.append(w_end[ngram - 1 :][same])
            owners.append(w_piece[: w_piece.size - ngram + 1][same])
    char_pieces = np.flatnonzero(~word_mode)
    if char_pieces.size:
        ps, pe = piece_start[char_pieces], piece_end[char_pieces]
        counts = np.maximum(pe - ps - char_ngram + 1, 1)
        owner = np.repeat(char_pieces, counts)
        first = np.repeat(np.cumsum(counts) - counts, counts)
        s = np.repeat(ps, counts) + (np.arange(owner.size) - first)
        starts.append(s)
        ends.append(np.minimum(s + char_ngram, np.repeat(pe, counts)))
        owners.append(owner)
    s, e, o = np.concatenate(starts), np.concatenate(ends), np.concatenate(owners)
    with np.errstate(over="ignore"):
        h = (prefix[e] - prefix[s]) * ipw[s]
    return o, _fmix32(h, seed)


def shingle_sets(
    texts: list[str], ngram: int = 5, char_ngram: int = 5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique 32-bit shingle hashes of normalised, non-empty texts.

    Returns (hashes, offsets): document i's set is hashes[offsets[i]:offsets[i+1]].
    """
    piece_doc: list[int] = []
    piece_text: list[str] = []
    piece_word: list[bool] = []
    for i, text in enumerate(texts):
        if not text:
            raise ValueError(f"document {i} is empty after normalisation")
        word_mode = text.count(" ") + 1 >= ngram
        parts = (
            _split_long(text, ngram - 1, char_ngram - 1, word_mode)
            if len(text) > PIECE_CHARS
            else [text]
        )
        piece_doc.extend([i] * len(parts))
        piece_text.extend(parts)
        piece_word.extend([word_mode] * len(parts))

    keys = []
    lo = 0
    while lo < len(piece_text):
        hi, size = lo, 0
        while hi < len(piece_text) and (hi == lo or size + len(piece_text[hi]) <= _GROUP_CHARS):
            size += len(piece_text[hi]) + 1
            hi += 1
        owner, h = _hash_group(
            piece_text[lo:hi], np.array(piece_word[lo:hi]), ngram, char_ngram, seed
        )
        doc = np.asarray(piece_doc[lo:hi], dtype=np.uint64)[owner]
        keys.append((doc << _S32) | h.astype(np.uint64))
        lo = hi
    merged = np.sort(np.concatenate(keys)) if keys else np.empty(0, np.uint64)
    if merged.size:  # np.sort + mask: several times faster than np.unique here
        merged = merged[np.concatenate(([True], merged[1:] != merged[:-1]))]
    offsets = np.searchsorted(merged >> _S32, np.arange(len(texts) + 1, dtype=np.uint64))
    return (merged & np.uint64(0xFFFFFFFF)).astype(np.uint32), offsets.astype(np.int64)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique hash sets."""
    if a.size == 0 and b.size == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)
