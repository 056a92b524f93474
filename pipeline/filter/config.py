"""Filter stage configuration: the filters' thresholds and which filters each source gets."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from corpusforge.core.settings import StrictModel
from corpusforge.pipeline.filter.rules import (
    C4Config,
    FineWebConfig,
    GopherQualityConfig,
    GopherRepetitionConfig,
)

FilterName = Literal[
    "language", "gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality"
]
# FineWeb's order (Penedo et al. 2024): language, Gopher repetition, Gopher quality, C4, FineWeb.
# The first filter that removes a document is its reason.
FILTER_ORDER: tuple[str, ...] = (
    "language",
    "gopher_repetition",
    "gopher_quality",
    "c4_quality",
    "fineweb_quality",
)
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]


class LanguageConfig(StrictModel):
    identifier: Literal["cld2", "lingua"] = Field(
        "cld2", description="cld2 (pycld2, default) or lingua (lingua-language-detector)"
    )
    keep_languages: list[LanguageCode] = Field(
        default_factory=lambda: ["en"],
        description="ISO 639-1 codes to keep; [] keeps every identified language",
    )
    min_confidence: float = Field(
        0.65,
        ge=0,
        le=1,
        description="below this the document is removed (FineWeb keeps English at 0.65)",
    )
    max_chars: int = Field(
        20_000, ge=100, description="identify on this many characters from the start"
    )


def _all_filters() -> list[FilterName]:
    return list(FILTER_ORDER)  # type: ignore[arg-type]


class FilterConfig(StrictModel):
    language: LanguageConfig = Field(default_factory=LanguageConfig)
    gopher_quality: GopherQualityConfig = Field(default_factory=GopherQualityConfig)
    gopher_repetition: GopherRepetitionConfig = Field(default_factory=GopherRepetitionConfig)
    c4_quality: C4Config = Field(default_factory=C4Config)
    fineweb_quality: FineWebConfig = Field(default_factory=FineWebConfig)
    policy: dict[str, list[FilterName]] = Field(
        default_factory=lambda: {
            "web": _all_filters(),
            "dataset": _all_filters(),
            # Books are long and hard-wrapped: C4's punctuation-per-line and FineWeb's line
            # rules would strip or remove every page, and Gopher's 100,000-word cap every novel.
            "books": ["language", "gopher_repetition"],
            # Encyclopedia articles: stubs are short and lists are content, so only the
            # language and repetition checks fit.
            "wiki": ["language", "gopher_repetition"],
        },
        description="filters per document source (web, books, wiki, dataset)",
    )
    default_policy: list[FilterName] = Field(
        default_factory=_all_filters, description="filters for a source `policy` does not name"
    )
    docs_per_batch: int = Field(1024, ge=1, description="documents read per batch")
    rows_per_shard: int = Field(50_000, gt=0, description="documents per output shard")

    @field_validator("policy")
    @classmethod
    def _sources(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for source, names in value.items():
            if len(set(names)) != len(names):
                raise ValueError(f"policy.{source}: a filter is listed twice")
        return value

    def filters_for(self, source: str) -> tuple[str, ...]:
        """The filters a document of `source` goes through, in FILTER_ORDER."""
        names = set(self.policy.get(source, self.default_policy))
        return tuple(n for n in FILTER_ORDER if n in names)
