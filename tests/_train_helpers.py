"""Shared set-up for the training tests: real book text, a real BPE tokenizer with the project's
special tokens and chat template (corpusforge.pipeline.tokenize), tiny configs and a directory
store."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _documents_helpers import seal

from corpusforge.model.config import SFTConfig, TrainConfig
from corpusforge.pipeline.stage import run_local


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine OpenMP's spinning threads make a
    2-thread step up to 10x slower than a 1-thread one."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def book_paragraphs(fixtures_dir: Path, limit_chars: int = 400_000) -> list[str]:
    """Paragraphs of the Project Gutenberg fixtures (real English prose)."""
    paragraphs: list[str] = []
    total = 0
    for book in sorted((fixtures_dir / "books").glob("*.txt")):
        text = book.read_text(encoding="utf-8", errors="replace")
        for para in text.split("\n\n"):
            para = " ".join(para.split())
            if len(para) > 80:
                paragraphs.append(para)
                total += len(para)
                if total >= limit_chars:
                    return paragraphs
    return paragraphs


def token_shards(texts: list[str], out_dir: Path, vocab_size: int = 512) -> Path:
    """Real token shards (corpusforge.pipeline.tokenize): a BPE tokenizer trained on `texts`, with
    the project's special tokens and chat template, and about 10% of documents in `val`."""
    from corpusforge.pipeline.documents import ShardWriter
    from corpusforge.pipeline.tokenize import TokenizeConfig, tokenize_job

    docs = out_dir.parent / f"{out_dir.name}-docs"
    with ShardWriter(docs, rows_per_shard=10_000) as writer:
        writer.write_rows(
            [{"id": f"book-{i:05d}", "text": t, "source": "books"} for i, t in enumerate(texts)]
        )
    config = TokenizeConfig(vocab_size=vocab_size, val_fraction=0.1, workers=1)
    run_local(tokenize_job(seal(docs), out_dir, config))
    return out_dir


def tiny_config(tmp_path: Path, **overrides) -> TrainConfig:
    values = dict(
        preset="tiny",
        data=str(tmp_path / "shards"),
        seq_len=64,
        micro_batch_size=8,
        max_steps=20,
        warmup_steps=4,
        eval_every=10,
        eval_batches=4,
        checkpoint_every=10,
        log_every=5,
        metrics_path=str(tmp_path / "metrics.jsonl"),
    )
    values.update(overrides)
    return TrainConfig(**values)


def sft_config(tmp_path: Path, data: Path, init_from: str, **overrides) -> SFTConfig:
    values = dict(
        preset="tiny",
        data=str(data),
        init_from=init_from,
        seq_len=128,
        micro_batch_size=4,
        max_steps=12,
        warmup_steps=2,
        eval_every=6,
        eval_batches=2,
        checkpoint_every=6,
        log_every=3,
        val_fraction=0.2,
    )
    values.update(overrides)
    return SFTConfig(**values)


def open_test_store(root: Path):
    """The real encrypted checkpoint store in a fresh workspace, as the training service."""
    from corpusforge.model.store import bootstrap_store, open_store

    tokens = bootstrap_store(root)
    return open_store(root, tokens["svc:trainer"])
