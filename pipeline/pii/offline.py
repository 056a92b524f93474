"""Offline helpers: tldextract on its bundled Public Suffix List snapshot, never the network."""

from __future__ import annotations

import logging
from functools import cache, lru_cache

import tldextract


@cache
def offline_tldextract() -> tldextract.TLDExtract:
    # No URLs to fetch, no cache dir to write: the snapshot shipped in the package is used.
    logging.getLogger("tldextract").setLevel(logging.ERROR)
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def make_presidio_tldextract_offline() -> None:
    """Presidio's email recognizer calls the module-level `tldextract.extract`, which would try
    to download the suffix list; point it at the offline extractor (same answers)."""
    tldextract.extract = offline_tldextract()
    try:
        from presidio_analyzer.predefined_recognizers.generic import email_recognizer

        email_recognizer.tldextract.extract = offline_tldextract()
    except ImportError:  # pragma: no cover - presidio layout changed
        pass


@lru_cache(maxsize=1 << 14)
def has_public_suffix(domain: str) -> bool:
    """Whether `domain` has a registrable name under a public suffix (the bundled snapshot).

    Cached: text repeats a few mail domains (gmail.com, a company's own), and an extraction
    walks the suffix trie each time; the answer for a string never changes within a process.
    """
    parts = offline_tldextract()(domain)
    return bool(parts.suffix) and bool(parts.domain)
