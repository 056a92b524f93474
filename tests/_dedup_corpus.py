"""Small generated documents for dedup tests: seeded, word-level edits with known similarity."""

from __future__ import annotations

import random

_SYLLABLES = "ka lo mi re tu sa ne po vi da gu fe ri mo la zen tor quil bran dex".split()


def vocabulary(size: int = 3000, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return sorted(
        {"".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(size)}
    )


def document(rng: random.Random, words: int, vocab: list[str]) -> list[str]:
    return [rng.choice(vocab) for _ in range(words)]


def edit(rng: random.Random, words: list[str], fraction: float, vocab: list[str]) -> list[str]:
    """Replace `fraction` of the word positions with random words."""
    out = list(words)
    for i in rng.sample(range(len(out)), int(len(out) * fraction)):
        out[i] = rng.choice(vocab)
    return out


def shingle_set(words: list[str], n: int = 5) -> set[str]:
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: list[str], b: list[str], n: int = 5) -> float:
    sa, sb = shingle_set(a, n), shingle_set(b, n)
    return len(sa & sb) / len(sa | sb)
