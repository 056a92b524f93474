"""A small multi-source, multi-script corpus for the tokenize tests (generated, deterministic)."""

from __future__ import annotations

import random
from pathlib import Path

from _documents_helpers import seal

from corpusforge.pipeline.documents import ShardWriter

WORDS = (
    "the of and to in is was for on that with as by at from river city data model privacy "
    "history music science people village school market winter summer north south"
).split()
SCRIPTS = (
    "東京都の天気は晴れです。",
    "مرحبا بالعالم، كيف حالك؟",
    "emoji 🎉👩‍💻🇩🇪 ok",
    "Ünïcödé façade",
)


def make_text(rng: random.Random, i: int) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 200)))
    if i % 7 == 0:
        words += f" Contact <|person|> at <|email|> or <|phone|>. {SCRIPTS[i % len(SCRIPTS)]}"
    if i % 11 == 0:
        words += "\n\n" + " ".join(SCRIPTS)
    return words


def write_corpus(path: Path, docs: int = 600, rows_per_shard: int = 250, seed: int = 0) -> Path:
    """Parquet document shards with web/books/wiki documents; returns the directory."""
    rng = random.Random(seed)
    rows = [
        {"id": f"doc-{i:05d}", "text": make_text(rng, i), "source": ("web", "books", "wiki")[i % 3]}
        for i in range(docs)
    ]
    with ShardWriter(path, rows_per_shard=rows_per_shard) as writer:
        writer.write_rows(rows)
    return seal(path)
