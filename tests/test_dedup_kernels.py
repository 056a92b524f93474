"""The compiled kernels give exactly what the plain numpy / Python formulations give."""

from __future__ import annotations

import random
import re
import unicodedata

import numpy as np
import pytest

from corpusforge.pipeline.dedup import shingles
from corpusforge.pipeline.dedup.minhash import permutations, signatures
from corpusforge.pipeline.dedup.shingles import normalize_for_dedup, shingle_sets

# ---------------------------------------------------------------- references (plain numpy)
_NO_SPACE_SCRIPT = re.compile(
    "([\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\uff66-\uff9f])"
)
_DICT_TABLE = {
    cp: ("0" if unicodedata.category(chr(cp)) == "Nd" else " ")
    for cp in range(0x30000)
    if unicodedata.category(chr(cp)) == "Nd"
    or unicodedata.category(chr(cp))[0] in "PSZ"
    or unicodedata.category(chr(cp)) in ("Cc", "Cf")
}


def reference_normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().translate(_DICT_TABLE)
    return " ".join(_NO_SPACE_SCRIPT.sub(r" \1 ", text).split())


def _fmix32(h: np.ndarray, seed: int) -> np.ndarray:
    h = h ^ np.uint64(seed)
    with np.errstate(over="ignore"):
        for mult in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
            h ^= h >> np.uint64(33)
            h *= np.uint64(mult)
    h ^= h >> np.uint64(33)
    return (h >> np.uint64(32)).astype(np.uint32)


def reference_shingle_sets(texts: list[str], ngram: int, char_ngram: int, seed: int):
    """Prefix hashes of the whole batch in numpy, word runs by np.diff, as before the kernel."""
    buf = " ".join(texts)
    codes = np.frombuffer(buf.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    pw, ipw = shingles._powers(1 << max(16, codes.size.bit_length()))
    with np.errstate(over="ignore"):
        prefix = np.zeros(codes.size + 1, dtype=np.uint64)
        np.cumsum(codes * pw[: codes.size], out=prefix[1:])
    lengths = np.array([len(t) for t in texts])
    starts = np.concatenate(([0], np.cumsum(lengths[:-1] + 1)))
    keys = []
    for d, (ps, n) in enumerate(zip(starts.tolist(), lengths.tolist(), strict=True)):
        words = [(m.start() + ps, m.end() + ps) for m in re.finditer(r"[^ ]+", texts[d])]
        if len(words) >= ngram:
            spans = [(words[i][0], words[i + ngram - 1][1]) for i in range(len(words) - ngram + 1)]
        else:
            spans = [
                (ps + i, min(ps + i + char_ngram, ps + n))
                for i in range(max(n - char_ngram + 1, 1))
            ]
        s = np.array([a for a, _ in spans])
        e = np.array([b for _, b in spans])
        with np.errstate(over="ignore"):
            h = _fmix32((prefix[e] - prefix[s]) * ipw[s], seed)
        keys.append(np.unique(h))
    offsets = np.concatenate(([0], np.cumsum([k.size for k in keys])))
    return np.concatenate(keys), offsets


def reference_signatures(hashes, offsets, perms):
    a, b = perms
    with np.errstate(over="ignore"):
        v = hashes.astype(np.uint64)[:, None] * a[None, :] + b[None, :]
    return (np.minimum.reduceat(v, offsets[:-1], axis=0) >> np.uint64(32)).astype(np.uint32)


# ---------------------------------------------------------------- tests
def _random_text(rng: random.Random, alphabet: str, words: int) -> str:
    return " ".join(
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(words)
    )


def test_ascii_fast_path_equals_unicode_path_and_the_reference():
    rng = random.Random(5)
    alphabet = "".join(chr(c) for c in range(128))  # letters, digits, punctuation, controls
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        assert text.isascii()
        fast = shingles._normalize_ascii(text)
        assert fast == shingles._normalize_unicode(text) == reference_normalize(text)


def test_unicode_normalisation_equals_the_reference_on_mixed_scripts():
    rng = random.Random(6)
    alphabet = "aZ9 .,-\t\nÄöß İΣσς ½①ﬁ\u00a0\u200b\u3000東京タワーです。ภาษาไทย๑ကခ한국어١٢"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        assert normalize_for_dedup(text) == reference_normalize(text)


@pytest.mark.parametrize("ngram,char_ngram,seed", [(5, 5, 0), (3, 4, 7), (1, 1, 2)])
def test_shingle_kernel_equals_numpy_reference(ngram, char_ngram, seed):
    rng = random.Random(ngram * 10 + seed)
    texts = [
        normalize_for_dedup(_random_text(rng, "abcdeé東ภ", rng.randint(1, 60))) for _ in range(80)
    ]
    texts = [t for t in texts if t]
    got_h, got_o = shingle_sets(texts, ngram, char_ngram, seed)
    want_h, want_o = reference_shingle_sets(texts, ngram, char_ngram, seed)
    assert np.array_equal(got_o, want_o)
    for i in range(len(texts)):  # same sets (each sorted in its own way)
        assert np.array_equal(
            np.sort(got_h[got_o[i] : got_o[i + 1]]), want_h[want_o[i] : want_o[i + 1]]
        )


def test_ascii_and_code_point_hashing_agree():
    """A batch hashed as bytes (all ASCII) and as code points (one é) gives equal ASCII sets."""
    texts = ["the quick brown fox jumps over the lazy dog again", "ab cd"]
    h1, o1 = shingle_sets(texts)
    h2, o2 = shingle_sets(texts + ["é"])
    assert np.array_equal(h1, h2[: o2[2]]) and np.array_equal(o1, o2[:3])


@pytest.mark.parametrize("num_perm", [1, 7, 64, 128])
def test_minhash_kernel_equals_numpy_reference(num_perm):
    rng = np.random.default_rng(num_perm)
    sizes = rng.integers(1, 300, size=50)
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    hashes = rng.integers(0, 2**32, size=int(offsets[-1]), dtype=np.uint64).astype(np.uint32)
    perms = permutations(num_perm, seed=3)
    assert np.array_equal(
        signatures(hashes, offsets, perms), reference_signatures(hashes, offsets, perms)
    )
