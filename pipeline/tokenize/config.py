"""Tokenize configuration (validated; recorded in the manifest and in cache keys)."""

from __future__ import annotations

from pydantic import Field, field_validator

from corpusforge.core.settings import StrictModel
from corpusforge.pipeline.documents import SOURCES


class TokenizeConfig(StrictModel):
    vocab_size: int = Field(32_768, ge=512, description="BPE vocabulary size (multiple of 64)")
    tokenizer_dir: str | None = Field(
        None, description="use this local Hugging Face tokenizer directory instead of training"
    )
    train_sample_bytes: int = Field(
        200_000_000, gt=0, description="text bytes (at most) the tokenizer is trained on"
    )
    min_frequency: int = Field(2, ge=1, description="BPE: minimum pair count for a merge")
    val_fraction: float = Field(0.01, ge=0.0, lt=1.0, description="documents routed to val")
    shard_tokens: int = Field(100_000_000, gt=0, description="tokens per output shard (about)")
    mixture: dict[str, float] | None = Field(
        None,
        description="target share of each source in the output (e.g. web 0.6, books 0.2, "
        "wiki 0.2); sources are up/down-sampled by document; unnamed sources are left out",
    )
    seed: int = Field(0, description="salt of the id hashes that pick split, sample and copies")
    batch_bytes: int = Field(4_000_000, gt=0, description="text bytes per encode_batch call")
    workers: int | None = Field(None, ge=1, description="encoding processes (default: cores)")

    @field_validator("vocab_size")
    @classmethod
    def _multiple_of_64(cls, v: int) -> int:
        if v % 64:
            raise ValueError(f"vocab_size must be a multiple of 64 (got {v})")
        return v

    @field_validator("mixture")
    @classmethod
    def _valid_mixture(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return None
        if not v or any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError("mixture weights must be >= 0 with a positive sum")
        unknown = sorted(set(v) - set(SOURCES))
        if unknown:
            raise ValueError(f"unknown mixture sources {unknown}; expected some of {SOURCES}")
        total = sum(v.values())
        return {k: v[k] / total for k in sorted(v)}

    def encode_key(self) -> dict:
        """The fields that change encoded output (the cache key of an encoded input shard)."""
        return {"val_fraction": self.val_fraction, "seed": self.seed}
