"""Normalisation and vectorised shingle hashing.

Documents are normalised (NFKC, lower case, digits to 0, punctuation and whitespace to one
space, characters of scripts written without spaces split apart) and cut into word n-grams;
a document with fewer than n words uses character n-grams instead. Every shingle is a
substring of the normalised text, so one polynomial prefix hash over a whole batch
(arithmetic mod 2**64) hashes all shingles at once: hash(s, e) = (H[e] - H[s]) * p**-s. The
result is mixed (murmur3 fmix64) and kept as 32 bits, the width datasketch uses too. The
loops run compiled (kernels.py); ASCII text, most of it in practice, skips NFKC and is
handled as bytes, which hash the same as its code points.

A document's shingle set is returned sorted and unique, so exact Jaccard of two documents is
one `np.intersect1d` on stored hashes, and MinHash never sees a shingle twice.
"""

from __future__ import annotations

import unicodedata

import numpy as np

from corpusforge.pipeline.dedup.kernels import shingle_keys, translate_collapse


def _translation_table() -> np.ndarray:
    """Code point -> code point: punctuation, symbols, separators and control characters to a
    space, digits to 0, ASCII upper case to lower (the rest of lower-casing is str.lower)."""
    space, zero = ord(" "), ord("0")
    table = np.array(  # one list pass, not numpy item assignment
        [
            zero
            if (cat := unicodedata.category(chr(cp))) == "Nd"
            else space
            if cat[0] in "PSZ" or cat in ("Cc", "Cf")
            else cp
            for cp in range(0x30000)  # BMP and the CJK extension planes
        ],
        dtype=np.uint32,
    )
    table[ord("A") : ord("Z") + 1] += ord("a") - ord("A")
    return table


_TABLE = _translation_table()
_ASCII_TABLE = _TABLE[:128].astype(np.uint8)

PIECE_CHARS = 1 << 20  # long documents are hashed in overlapping pieces of this size
_GROUP_CHARS = 1 << 21  # pieces hashed together in one numpy pass
_BASE = np.uint64(0x9E3779B97F4A7C15 | 1)  # odd, so it has an inverse mod 2**64
_S32 = np.uint64(32)


def normalize_for_dedup(text: str) -> str:
    """The text shingles are cut from: case, digits, punctuation and spacing do not count."""
    return _normalize_ascii(text) if text.isascii() else _normalize_unicode(text)


def _normalize_ascii(text: str) -> str:
    """ASCII only: NFKC and lower() change nothing here that the table does not, so skip them
    and work on bytes (one byte per character, 4x less memory traffic than code points)."""
    src = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    out = np.empty(2 * src.size, dtype=np.uint8)
    return out[: translate_collapse(src, _ASCII_TABLE, out)].tobytes().decode("ascii")


def _normalize_unicode(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    src = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    out = np.empty(2 * src.size, dtype=np.uint32)
    m = translate_collapse(src, _TABLE, out)
    return out[:m].tobytes().decode("utf-32-le", "surrogatepass")


_POWERS: tuple[np.ndarray, np.ndarray] | None = None


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """p**i and p**-i mod 2**64 for i < n (n a power of two). The largest table computed so far
    is kept and smaller ones are its prefixes (the same values), so a process computes each
    power once, not once per size its batches happen to need."""
    global _POWERS
    if _POWERS is None or _POWERS[0].size < n:
        _POWERS = _compute_powers(n)
    pw, ipw = _POWERS
    return pw[:n], ipw[:n]


def _compute_powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    inv = pow(int(_BASE), -1, 1 << 64)
    with np.errstate(over="ignore"):
        pw = np.full(n, _BASE, dtype=np.uint64)
        pw[0] = 1
        np.multiply.accumulate(pw, out=pw)
        ipw = np.full(n, np.uint64(inv), dtype=np.uint64)
        ipw[0] = 1
        np.multiply.accumulate(ipw, out=ipw)
    return pw, ipw


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


def _hash_group(pieces: list[str], doc: list[int], word_mode: list[bool], ngram, char_ngram, seed):
    """(document << 32 | shingle hash) of every shingle of pieces joined by spaces."""
    buf = " ".join(pieces)
    if buf.isascii():
        codes = np.frombuffer(buf.encode("ascii"), dtype=np.uint8)
    else:
        codes = np.frombuffer(buf.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    pw, ipw = _powers(1 << max(16, codes.size.bit_length()))
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    piece_start = np.zeros(len(pieces), dtype=np.int64)
    np.cumsum(lengths[:-1] + 1, out=piece_start[1:])
    return shingle_keys(
        codes,
        piece_start,
        piece_start + lengths,
        np.asarray(doc, dtype=np.int64),
        np.asarray(word_mode, dtype=np.bool_),
        ngram,
        char_ngram,
        pw,
        ipw,
        np.uint64(seed),
    )


def _has_words(text: str, n: int) -> bool:
    """At least n words (normalised text: single spaces), without counting every space."""
    pos = -1
    for _ in range(n - 1):
        pos = text.find(" ", pos + 1)
        if pos < 0:
            return False
    return True


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
        word_mode = _has_words(text, ngram)
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
        keys.append(
            _hash_group(
                piece_text[lo:hi], piece_doc[lo:hi], piece_word[lo:hi], ngram, char_ngram, seed
            )
        )
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
