"""MinHash signatures, LSH band keys and the choice of bands x rows."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch.lsh import _optimal_param

from corpusforge.core.errors import ConfigError
from corpusforge.pipeline.dedup.config import DedupConfig, optimal_param
from corpusforge.pipeline.dedup.minhash import band_keys, permutations, signatures
from corpusforge.pipeline.dedup.shingles import shingle_sets
from tests._dedup_corpus import document, edit, vocabulary
from tests._dedup_corpus import jaccard as reference_jaccard


@pytest.mark.parametrize("threshold", [0.5, 0.8, 0.9])
@pytest.mark.parametrize("fp_weight", [0.5, 0.01])
def test_banding_matches_datasketch_optimal_param(threshold, fp_weight):
    assert optimal_param(threshold, 64, fp_weight, 1 - fp_weight) == _optimal_param(
        threshold, 64, fp_weight, 1 - fp_weight
    )


def test_default_banding_catches_pairs_at_the_threshold():
    bands, rows = DedupConfig().banding()
    assert bands * rows <= 64
    assert 1 - (1 - 0.8**rows) ** bands > 0.98  # low false-negative rate at J = 0.8


def test_bands_and_rows_are_overridable_and_checked():
    assert DedupConfig(bands=4, rows=8).banding() == (4, 8)
    with pytest.raises(ConfigError):
        DedupConfig(bands=20, rows=8, num_perm=64)
    with pytest.raises(ConfigError):
        DedupConfig(bands=4)


def test_signatures_equal_brute_force_minimum_of_every_permutation():
    hashes = np.array([5, 9, 2**32 - 1, 7, 1], dtype=np.uint32)
    offsets = np.array([0, 3, 5])
    a, b = perms = permutations(16, seed=3)
    sig = signatures(hashes, offsets, perms)
    with np.errstate(over="ignore"):
        for d in range(2):
            x = hashes[offsets[d] : offsets[d + 1]].astype(np.uint64)
            ref = ((x[:, None] * a + b) >> np.uint64(32)).min(axis=0).astype(np.uint32)
            assert np.array_equal(sig[d], ref)


def test_signature_agreement_estimates_jaccard():
    rng = random.Random(5)
    vocab = vocabulary()
    base = document(rng, 2000, vocab)
    other = edit(rng, base, 0.04, vocab)
    h, o = shingle_sets([" ".join(base), " ".join(other)])
    sig = signatures(h, o, permutations(256, seed=1))
    estimate = float((sig[0] == sig[1]).mean())
    assert estimate == pytest.approx(reference_jaccard(base, other), abs=0.08)


def test_band_keys_equal_exactly_when_band_rows_agree():
    sig = np.array([[1, 2, 3, 4], [1, 2, 9, 4], [1, 3, 3, 4]], dtype=np.uint32)
    keys = band_keys(sig, bands=2, rows=2)
    assert keys[0, 0] == keys[1, 0] and keys[0, 1] != keys[1, 1]
    assert keys[0, 0] != keys[2, 0] and keys[0, 1] == keys[2, 1]
