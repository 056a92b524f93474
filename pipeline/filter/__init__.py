"""Quality and language filtering between ingest and dedup (see docs/filter.md).

`DocumentFilter` applies a source's filters to one document; `filter_job` is the stage over
document shards (cached per shard, published with a manifest and a removals side table), run
with `corpusforge.pipeline.stage.run_local` or the Prefect driver.
"""

from corpusforge.pipeline.filter.config import FILTER_ORDER, FilterConfig, LanguageConfig
from corpusforge.pipeline.filter.engine import Decision, DocumentFilter
from corpusforge.pipeline.filter.rules import (
    C4Quality,
    FineWebQuality,
    GopherQuality,
    GopherRepetition,
    Removal,
)
from corpusforge.pipeline.filter.stage import filter_job

__all__ = [
    "FILTER_ORDER",
    "C4Quality",
    "Decision",
    "DocumentFilter",
    "FilterConfig",
    "FineWebQuality",
    "GopherQuality",
    "GopherRepetition",
    "LanguageConfig",
    "filter_job",
    "Removal",
]
