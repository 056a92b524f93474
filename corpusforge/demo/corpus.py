"""`write_sample`: the whole demo corpus under one directory, and what was planted where."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

from corpusforge.demo.books import write_books
from corpusforge.demo.planted import Ledger
from corpusforge.demo.sft import write_sft
from corpusforge.demo.web import write_web
from corpusforge.demo.wiki import WIKI_FILE, write_wiki

SAMPLE_VERSION = 1


def write_sample(out_dir: Path, seed: int = 0, scale: int = 1) -> dict[str, Any]:
    """Write the sample corpus under `out_dir` and describe it (counts and ids, no PII values).

    `scale` multiplies the web crawl files (about 50 responses each), the wiki articles and the
    instruction rows; the books stay the same. Returns a JSON-serialisable dict:

    * ``files``: ``[{path, bytes, sha256}]`` (paths relative to `out_dir`), ``bytes`` and
      ``bytes_uncompressed`` totals;
    * ``web`` / ``books`` / ``wiki`` / ``sft``: per-source files and record counts (WARC record
      types, responses, HTML pages, skipped responses, charsets; book entries with style,
      encoding and line endings; wiki pages, articles, redirects, non-article pages; SFT rows);
    * ``documents``: every text record a reader should yield (HTTP-200 HTML responses, one per
      book file, ns-0 non-redirect wiki pages, every JSONL row), each as ``{source, file,
      locator, uri, kind, pii}``; locators are the WARC-Record-ID, the ebook number,
      ``page_id/revision_id`` and the row index; ``document_counts`` by source;
    * ``pii``: planted occurrences by type (``total``, ``by_source``, ``by_subtype``);
    * ``duplicates``: ``exact`` and ``near`` pairs ``{kind, a, b, ...}`` by document reference,
      near pairs with the number of edited words (and the word 5-gram Jaccard for web pages).

    Sources are named as in DESIGN.md (``web``, ``books``, ``wiki``, ``dataset`` for the SFT
    rows). Files already in `out_dir` with the same names are overwritten.
    """
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    root = Path(out_dir)
    for sub in ("web", "books", "wiki", "sft"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    ledger = Ledger()

    wiki_summary, reposts = write_wiki(root / WIKI_FILE, seed, scale, ledger)
    web_summary = write_web(root, seed, scale, reposts, ledger)
    unc_web = web_summary["bytes_uncompressed"]
    web_files = web_summary["files"]

    books_summary, _, unc_books = write_books(root, seed, ledger)
    books_summary["bytes_uncompressed"] = unc_books

    sft_summary = write_sft(root, seed, scale, ledger)
    unc_sft = sft_summary["bytes_uncompressed"]

    files = []
    all_paths = web_files + books_summary["files"] + wiki_summary["files"] + sft_summary["files"]
    for rel in all_paths:
        blob = (root / rel).read_bytes()
        files.append({"path": rel, "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()})

    by_source: dict[str, Counter[str]] = {}
    subtypes: Counter[str] = Counter()
    for d in ledger.docs:
        by_source.setdefault(d.source, Counter()).update(d.pii)
        subtypes.update(d.pii_sub)
    total: Counter[str] = Counter()
    for c in by_source.values():
        total.update(c)

    def plain(c: Counter[str]) -> dict[str, int]:
        return {k: v for k, v in sorted(c.items()) if v}

    return {
        "version": SAMPLE_VERSION,
        "seed": seed,
        "scale": scale,
        "root": str(root),
        "files": files,
        "bytes": sum(f["bytes"] for f in files),
        "bytes_uncompressed": unc_web + unc_books + wiki_summary["bytes_uncompressed"] + unc_sft,
        "web": web_summary,
        "books": books_summary,
        "wiki": wiki_summary,
        "sft": sft_summary,
        "documents": [{**d.ref(), "kind": d.kind, "pii": plain(d.pii)} for d in ledger.docs],
        "document_counts": dict(sorted(Counter(d.source for d in ledger.docs).items())),
        "pii": {
            "total": plain(total),
            "by_source": {s: plain(c) for s, c in sorted(by_source.items())},
            "by_subtype": plain(subtypes),
            "note": "planted occurrences in document text (web: visible page text; wiki "
            "contributor <ip> elements are counted in wiki.ip_contributors instead)",
        },
        "duplicates": {
            "exact": ledger.exact,
            "near": ledger.near,
            "counts": {"exact": len(ledger.exact), "near": len(ledger.near)},
        },
        "boilerplate": {"pages_with_licence_paragraph": ledger.boilerplate_pages},
    }
