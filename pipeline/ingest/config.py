"""Ingest configuration (validated; recorded in manifests and cache keys)."""

from typing import Literal

from pydantic import Field

from corpusforge.core.settings import StrictModel


class IngestConfig(StrictModel):
    min_chars: int = Field(100, ge=0, description="drop documents shorter than this (counted)")
    max_doc_chars: int = Field(
        16_000_000, gt=0, description="quarantine documents longer than this (counted)"
    )
    web_extractor: Literal["resiliparse", "trafilatura"] = Field(
        "resiliparse", description="main-text extraction library for HTML"
    )
    text_field: str = Field("text", description="text column of JSONL/Parquet datasets")
    id_field: str | None = Field(None, description="id column of datasets (default: row index)")
    dataset_split: str = Field("train", description="split for Hugging Face hub datasets")
    rows_per_shard: int = Field(20_000, gt=0, description="documents per output Parquet shard")
