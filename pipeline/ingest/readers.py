"""One entry point over the source readers: detect the format, return the record stream."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from corpusforge.pipeline.ingest.config import IngestConfig
from corpusforge.pipeline.ingest.datasets import HUB_PREFIX, read_dataset, read_hub_dataset
from corpusforge.pipeline.ingest.detect import detect_format
from corpusforge.pipeline.ingest.gutenberg import read_gutenberg
from corpusforge.pipeline.ingest.mediawiki import read_mediawiki
from corpusforge.pipeline.ingest.records import RawDocument, RecordError
from corpusforge.pipeline.ingest.warc import read_warc

Reader = Callable[..., Iterator[RawDocument | RecordError]]

# format name -> reader(path, config, stats=None)
READERS: dict[str, Reader] = {
    "warc": read_warc,
    "gutenberg": read_gutenberg,
    "mediawiki": read_mediawiki,
    "dataset": read_dataset,
}

# format name -> DESIGN.md document `source`
SOURCES = {"warc": "web", "gutenberg": "books", "mediawiki": "wiki", "dataset": "dataset"}


def is_hub_spec(spec: str | Path) -> bool:
    return isinstance(spec, str) and spec.startswith(HUB_PREFIX)


def open_reader(
    path: str | Path, config: IngestConfig | None = None, stats: Counter | None = None
) -> Iterator[RawDocument | RecordError]:
    """Detect the format of `path` (or take an `hf://owner/name` hub spec) and return its
    record stream. Raises InputError for a missing, empty or unrecognised input."""
    config = config or IngestConfig()
    if is_hub_spec(path):
        return read_hub_dataset(str(path), config, stats)
    return READERS[detect_format(path)](path, config, stats)
