"""Spot checks without PII: each placeholder with 60 characters either side, after redaction."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path

from corpusforge.pipeline.documents import iter_documents
from corpusforge.pipeline.special_tokens import PII_PLACEHOLDERS

_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in set(PII_PLACEHOLDERS.values())))


def iter_contexts(path: str | Path, width: int = 60) -> Iterator[tuple[str, str, str]]:
    """(document id, placeholder, context) for every placeholder in the scrubbed shards."""
    for doc in iter_documents(path, columns=["id", "text"]):
        text = doc["text"] or ""
        for m in _PLACEHOLDER.finditer(text):
            left = text[max(0, m.start() - width) : m.start()]
            right = text[m.end() : m.end() + width]
            context = (left + "[" + m.group() + "]" + right).replace("\n", " ⏎ ")
            yield doc["id"], m.group(), context


def review_contexts(
    path: str | Path, sample: int = 20, seed: int = 0, width: int = 60
) -> list[tuple[str, str, str]]:
    """A uniform sample (reservoir) of placeholder contexts: memory bounded by `sample`."""
    rng = random.Random(seed)
    chosen: list[tuple[str, str, str]] = []
    for i, item in enumerate(iter_contexts(path, width)):
        if i < sample:
            chosen.append(item)
        elif (j := rng.randint(0, i)) < sample:
            chosen[j] = item
    return chosen
