"""Compiled (numba) inner loops of signature computation: shingle hashing and MinHash.

numpy needed temporaries of shingles x permutations (uint64) and several passes over them;
these loops make one pass with everything in registers (docs/dedup.md has the measured
gain). They compute exactly the values the
formulas in shingles.py and minhash.py define (tests compare them with plain numpy).
`cache=True` keeps the machine code on disk, so worker processes do not recompile it.
"""

from __future__ import annotations

import numba
import numpy as np

_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_SPACE = 32


@numba.njit(cache=True, nogil=True, inline="always")
def _fmix32(h, seed):
    """murmur3's 64-bit finaliser (seeded), top 32 bits."""
    h ^= seed
    h ^= h >> np.uint64(33)
    h *= _M1
    h ^= h >> np.uint64(33)
    h *= _M2
    h ^= h >> np.uint64(33)
    return np.uint32(h >> np.uint64(32))


@numba.njit(cache=True, nogil=True)
def shingle_keys(
    codes, piece_start, piece_end, piece_doc, word_mode, ngram, char_ngram, pw, ipw, seed
):
    """(document << 32 | shingle hash) of every shingle of every piece, unsorted.

    `codes` are the characters of all pieces (code points, or bytes of ASCII text: equal
    values, so equal hashes). A shingle [s, e) hashes to sum(codes[k] * p**(k - s)), computed
    from prefix sums as (P[e] - P[s]) * p**-s mod 2**64, then mixed by `_fmix32`.
    """
    n = codes.size
    prefix = np.empty(n + 1, dtype=np.uint64)
    acc = np.uint64(0)
    prefix[0] = acc
    for k in range(n):
        acc += np.uint64(codes[k]) * pw[k]
        prefix[k + 1] = acc
    out = np.empty(n + piece_start.size, dtype=np.uint64)  # >= shingles: one per char at most
    m = 0
    useed = np.uint64(seed)
    starts = np.empty(ngram, dtype=np.int64)  # ring of the last ngram word starts
    for p in range(piece_start.size):
        ps, pe = piece_start[p], piece_end[p]
        doc = np.uint64(piece_doc[p]) << np.uint64(32)
        if word_mode[p]:
            words = 0
            slot = 0  # ring position of the current word (no modulo: it is slow per word)
            k = ps
            while k < pe:
                while k < pe and codes[k] == _SPACE:
                    k += 1
                if k >= pe:
                    break
                ws = k
                while k < pe and codes[k] != _SPACE:
                    k += 1
                starts[slot] = ws
                slot = slot + 1 if slot + 1 < ngram else 0
                words += 1
                if words >= ngram:
                    s = starts[slot]  # after the wrap: the start ngram - 1 words back
                    h = (prefix[k] - prefix[s]) * ipw[s]
                    out[m] = doc | np.uint64(_fmix32(h, useed))
                    m += 1
        else:
            count = max(pe - ps - char_ngram + 1, 1)
            for i in range(count):
                s = ps + i
                e = min(s + char_ngram, pe)
                h = (prefix[e] - prefix[s]) * ipw[s]
                out[m] = doc | np.uint64(_fmix32(h, useed))
                m += 1
    return out[:m]


@numba.njit(cache=True, nogil=True)
def minhash(hashes, offsets, a, b):
    """(documents, num_perm) uint32: per document, min over its shingles x of (a*x + b) >> 32."""
    n_docs = offsets.size - 1
    num_perm = a.size
    out = np.empty((n_docs, num_perm), dtype=np.uint32)
    mins = np.empty(num_perm, dtype=np.uint64)
    for d in range(n_docs):
        mins[:] = np.uint64(0xFFFFFFFFFFFFFFFF)
        for k in range(offsets[d], offsets[d + 1]):
            x = np.uint64(hashes[k])
            for j in range(num_perm):
                v = a[j] * x + b[j]
                if v < mins[j]:
                    mins[j] = v
        for j in range(num_perm):
            out[d, j] = np.uint32(mins[j] >> np.uint64(32))
    return out


@numba.njit(cache=True, nogil=True)
def _no_space_script(c):
    """Scripts written without spaces between words (CJK, kana, Thai, Lao, Myanmar, Khmer)."""
    return (
        (0x0E00 <= c <= 0x0EFF)
        or (0x1000 <= c <= 0x109F)
        or (0x1780 <= c <= 0x17FF)
        or (0x3040 <= c <= 0x30FF)
        or (0x3400 <= c <= 0x4DBF)
        or (0x4E00 <= c <= 0x9FFF)
        or (0xF900 <= c <= 0xFAFF)
        or (0xFF66 <= c <= 0xFF9F)
    )


@numba.njit(cache=True, nogil=True)
def translate_collapse(src, table, out):
    """Map every character through `table` (punctuation etc. to a space), split characters of
    no-space scripts apart, collapse runs of spaces and strip the ends, in one pass.

    Writes into `out` (2 x the length of src suffices) and returns the output length. Characters
    beyond the table are kept as they are.
    """
    m = 0
    pending = False  # a space is owed before the next character
    for k in range(src.size):
        c = src[k]
        t = table[c] if c < table.size else c
        if t == _SPACE:
            pending = m > 0
            continue
        alone = t >= 0x0E00 and _no_space_script(t)
        if (pending or alone) and m > 0:
            out[m] = _SPACE
            m += 1
        out[m] = t
        m += 1
        pending = alone
    return m
