"""Generate WARC files of boilerplate-heavy HTML pages for the ingest benchmark (seeded)."""

from __future__ import annotations

import io
import random
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

_WORDS = (
    "data model river city market energy policy school music garden history science "
    "travel health report season project network design village council library bridge "
    "harbour festival research climate museum railway theatre kitchen forest island "
    "engine signal archive harvest journal lantern meadow orchard quarry summit valley"
).split()


def _paragraph(rng: random.Random, sentences: int) -> str:
    out = []
    for _ in range(sentences):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 20))]
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def page(rng: random.Random, i: int, paragraphs: int) -> bytes:
    nav = "".join(f'<li><a href="/s/{k}">{rng.choice(_WORDS)}</a></li>' for k in range(25))
    body = "".join(f"<p>{_paragraph(rng, rng.randint(3, 7))}</p>" for _ in range(paragraphs))
    side = "".join(f'<li><a href="/r/{k}">{_paragraph(rng, 1)}</a></li>' for k in range(10))
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Page {i}</title>"
        "<style>body{font:14px sans-serif}.nav li{display:inline}</style>"
        "<script>window.dataLayer=[];function track(e){dataLayer.push(e)}</script></head>"
        f"<body><header><ul class='nav'>{nav}</ul></header>"
        "<div class='cookie'>We use cookies to improve your experience. Accept all.</div>"
        f"<main><article><h1>Article {i}</h1>{body}</article></main>"
        f"<aside><h3>Related</h3><ul>{side}</ul></aside>"
        "<footer>Copyright Example Media. All rights reserved. Terms | Privacy</footer>"
        "<script>track({page: 'view'})</script></body></html>"
    )
    return html.encode()


def write_warc(path: Path, target_bytes: int, seed: int) -> tuple[int, int]:
    """Write one .warc.gz with about `target_bytes` of HTML; return (records, html bytes)."""
    rng = random.Random(seed)
    written = records = 0
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        while written < target_bytes:
            html = page(rng, records, rng.randint(6, 30))
            headers = StatusAndHeaders(
                "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
            )
            rec = writer.create_warc_record(
                f"https://bench.example/{seed}/{records}",
                "response",
                payload=io.BytesIO(html),
                http_headers=headers,
            )
            writer.write_record(rec)
            written += len(html)
            records += 1
    return records, written
