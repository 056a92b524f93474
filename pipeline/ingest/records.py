"""What a source reader yields: raw documents, or errors for records it had to skip."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RawDocument:
    """One extracted record, before normalisation and length filtering.

    key:      stable identity of the record within its source kind (WARC-Record-ID, ebook
              number, dbname + page id + revision id, file sha256 + row index). The document id
              is derived from (source, key), so a rerun gives the same id.
    locator:  human-readable pointer into the source (DESIGN.md `locator`).
    position: where the record sits in the file (byte offset, record or row index), used in
              quarantine records.
    """

    key: str
    text: str
    source: str
    locator: str
    position: int | str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class RecordError:
    """A record (or the rest of a file) that could not be read. Never holds content."""

    position: int | str | None
    reason: str
