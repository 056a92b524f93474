"""Shared set-up for the training tests: real book text, a real BPE tokenizer with the project's
special tokens and chat template (pipeline.tokenize), tiny configs and a directory store."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.config import SFTConfig, TrainConfig


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


def build_tokenizer(texts: list[str], out_dir: Path, vocab_size: int = 512) -> Path:
    from pipeline.tokenize.tokenizer import save_hf_tokenizer, train_tokenizer

    return save_hf_tokenizer(train_tokenizer(texts, vocab_size), out_dir)


class ArrayTokens:
    """The `TokenSource` interface over an in-memory array of token ids (encoded documents
    joined by end-of-text), standing in for `pipeline.tokenize.reader.TokenDataset` files."""

    def __init__(
        self, tokens: np.ndarray, tokenizer_dir: Path, vocab_size: int, eot: int, pad: int
    ):
        self.tokens = tokens
        self.num_tokens = len(tokens)
        self.vocab_size = vocab_size
        self.eot_id, self.pad_id = eot, pad
        self.tokenizer_dir = str(tokenizer_dir)
        self.manifest_sha256 = "0" * 64

    def get_window(self, start: int, length: int) -> np.ndarray:
        if start < 0 or start + length > self.num_tokens:
            raise IndexError(f"window {start}+{length} outside {self.num_tokens} tokens")
        return self.tokens[start : start + length].astype(np.int64)


def token_sources(texts: list[str], tokenizer_dir: Path) -> tuple[ArrayTokens, ArrayTokens]:
    """(train, val): every 10th document goes to validation."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    eot, pad = tok.eos_token_id, tok.pad_token_id
    splits: dict[str, list[int]] = {"train": [], "val": []}
    for i, text in enumerate(texts):
        splits["val" if i % 10 == 9 else "train"] += tok.encode(text) + [eot]
    return tuple(  # type: ignore[return-value]
        ArrayTokens(np.array(splits[s], dtype=np.uint16), tokenizer_dir, len(tok), eot, pad)
        for s in ("train", "val")
    )


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
