"""Normalisation, vectorised shingle hashing and exact Jaccard from hash sets."""

from __future__ import annotations

import random

import numpy as np
import pytest

from corpusforge.pipeline.dedup import shingles
from corpusforge.pipeline.dedup.shingles import jaccard, normalize_for_dedup, shingle_sets
from tests._dedup_corpus import document, edit, shingle_set, vocabulary
from tests._dedup_corpus import jaccard as reference_jaccard


def test_normalisation_ignores_case_punctuation_digits_and_spacing():
    a = normalize_for_dedup("The  Quick, brown fox -- jumped 42 times!\n\nEnd.")
    b = normalize_for_dedup("the quick brown FOX jumped 17 times   end")
    assert a == b == "the quick brown fox jumped 00 times end"
    assert normalize_for_dedup("   \n\t ") == ""


def test_scripts_without_spaces_become_character_words():
    assert normalize_for_dedup("東京タワーです。Hello") == "東 京 タ ワ ー で す hello"
    assert normalize_for_dedup("ภาษาไทย") == "ภ า ษ า ไ ท ย"


def test_word_shingles_match_a_python_reference():
    rng = random.Random(1)
    vocab = vocabulary()
    docs = [" ".join(document(rng, rng.randint(5, 400), vocab)) for _ in range(30)]
    hashes, offsets = shingle_sets(docs)
    for i, doc in enumerate(docs):
        mine = hashes[offsets[i] : offsets[i + 1]]
        assert np.all(np.diff(mine.astype(np.int64)) > 0)  # sorted, unique
        assert mine.size == len(shingle_set(doc.split()))  # no 32-bit collisions here


def test_short_documents_use_character_shingles_and_one_word_works():
    hashes, offsets = shingle_sets(["hello world", "x", "abcdefg"], ngram=5, char_ngram=5)
    counts = np.diff(offsets).tolist()
    assert counts == [7, 1, 3]  # 11 chars -> 7 five-grams; "x" -> itself; 7 chars -> 3


def test_same_shingle_in_two_documents_hashes_equal_and_seed_changes_hashes():
    h, o = shingle_sets(["a b c d e f", "z a b c d e"])
    assert np.intersect1d(h[o[0] : o[1]], h[o[1] : o[2]]).size == 1
    h2, _ = shingle_sets(["a b c d e f", "z a b c d e"], seed=9)
    assert not np.array_equal(np.sort(h), np.sort(h2))


def test_long_documents_hashed_in_pieces_give_the_same_set(monkeypatch):
    rng = random.Random(2)
    doc = " ".join(document(rng, 20_000, vocabulary()))
    whole, _ = shingle_sets([doc])
    monkeypatch.setattr(shingles, "PIECE_CHARS", 997)  # force many overlapping pieces
    pieces, _ = shingle_sets([doc])
    assert np.array_equal(whole, pieces)


def test_exact_jaccard_from_hashes_matches_python_sets():
    rng = random.Random(3)
    vocab = vocabulary()
    base = document(rng, 600, vocab)
    for fraction in (0.0, 0.01, 0.05, 0.2):
        other = edit(rng, base, fraction, vocab)
        h, o = shingle_sets([" ".join(base), " ".join(other)])
        got = jaccard(h[o[0] : o[1]], h[o[1] : o[2]])
        assert got == pytest.approx(reference_jaccard(base, other), abs=1e-3)


def test_empty_text_is_refused():
    with pytest.raises(ValueError, match="empty"):
        shingle_sets(["ok text", ""])
