"""MinHash signatures for many documents at once, and LSH band keys.

Permutation i maps a 32-bit shingle hash x to (a_i * x + b_i) mod 2**64 >> 32 (multiply-add-
shift with random 64-bit a_i, b_i: a universal family for 32-bit keys, like datasketch's
(a*x + b) mod p). The shift is monotone, so the minimum is taken before shifting. All
permutations of a shingle are applied in one compiled loop (kernels.minhash) with the
document's minima in registers: no per-shingle Python loop and no shingles x permutations
temporary.
"""

from __future__ import annotations

import numpy as np

from corpusforge.pipeline.dedup.kernels import minhash


def permutations(num_perm: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) coefficients of `num_perm` hash permutations; a is odd."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**64, size=num_perm, dtype=np.uint64, endpoint=False) | np.uint64(1)
    b = rng.integers(0, 2**64, size=num_perm, dtype=np.uint64, endpoint=False)
    return a, b


def signatures(
    hashes: np.ndarray, offsets: np.ndarray, perms: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """(documents, num_perm) uint32 MinHash signatures of the shingle sets in CSR form.

    Every document must have at least one shingle.
    """
    a, b = perms
    if offsets.size > 1 and np.any(offsets[1:] == offsets[:-1]):
        raise ValueError("every document needs at least one shingle")
    return minhash(hashes, np.asarray(offsets, dtype=np.int64), a, b)


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(documents, bands) uint64: one hash per band of `rows` signature values.

    Two documents share a band key exactly when they agree on all rows of that band
    (up to 64-bit collisions), which is what LSH buckets by.
    """
    n = sigs.shape[0]
    keys = np.zeros((n, bands), dtype=np.uint64)
    prime = np.uint64(0x100000001B3)
    with np.errstate(over="ignore"):
        for r in range(rows):
            keys *= prime
            keys ^= sigs[:, r : bands * rows : rows][:, :bands].astype(np.uint64)
        # mix so that band keys spread evenly (for partitioning by key ranges)
        keys ^= keys >> np.uint64(33)
        keys *= np.uint64(0xFF51AFD7ED558CCD)
        keys ^= keys >> np.uint64(33)
    return keys
