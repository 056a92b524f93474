"""Project Gutenberg books (`.txt`, `.txt.gz`, `.zip` of `.txt`): decode, strip boilerplate.

Everything Project Gutenberg adds is removed: the header, the "Small Print!" legal block of
the 1990s-2002 files (which sits before or after the book), the modern `*** START OF ... ***`
/ `*** END OF ... ***` markers with the footer and the full licence after them, and the
producer credits ("Produced by ...", "E-text prepared by Project Gutenberg ...") at the edges
of the body. Bibliographic metadata is read from the header first.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from corpusforge.pipeline.ingest.config import IngestConfig
from corpusforge.pipeline.ingest.records import RawDocument, RecordError

LICENSE = "Public domain in the USA (Project Gutenberg)"

_F = re.IGNORECASE
# The book starts after one of these lines (the first match wins).
_START = re.compile(
    r"^\W*\*{3}\s*START\s*(?:OF|:)?\s*(?:THE|THIS)?\s*PROJECT\s+GUTENBERG"
    r"|^\W*\*{3}\s*START\s+OF\s+THE\s+COPYRIGHTED\s+PROJECT\s+GUTENBERG"
    r"|^\s*START\s+OF\s+(?:THE|THIS)\s+PROJECT\s+GUTENBERG",
    _F,
)
# The old "Small Print!" block: its first and last line.
_SMALL_PRINT_START = re.compile(r"^\W*\*+\s*START\W*(?:THE\s+)?SMALL\s+PRINT", _F)
_SMALL_PRINT_END = re.compile(r"^\W*\*?\s*END\W*(?:THE\s+)?SMALL\s+PRINT", _F)
# The book ends before one of these lines (the first match after the start wins).
_END = re.compile(
    r"^\W*\*{3}\s*END\s*(?:OF|:)?\s*(?:THE|THIS)?\s*PROJECT\s+GUTENBERG"
    r"|^\W*\*{3}\s*END\s+OF\s+THE\s+COPYRIGHTED\s+PROJECT\s+GUTENBERG"
    r"|^\s*END\s+OF\s+(?:THE\s+)?PROJECT\s+GUTENBERG"
    r"|^\s*End\s+of\s+(?:the\s+)?Project\s+Gutenberg"
    r"|^\s*\*{3}\s*START:?\s*FULL\s+LICEN[CS]E"
    r"|^\W*\*+\s*START\W*(?:THE\s+)?SMALL\s+PRINT"
    r"|^\s*\**\s*This\s+file\s+should\s+be\s+named\s",
    _F,
)
# Producer credits at the very start or end of the body.
_CREDIT = re.compile(
    r"^\s*(?:Produced\s+by|This\s+e-?(?:text|book)\s+(?:was|is|has\s+been)\s+"
    r"(?:produced|prepared|created|transcribed|scanned)|E-?(?:text|book)\s+(?:was\s+)?"
    r"(?:prepared|produced|created|scanned)\s+by|Transcribed\s+(?:from|by)|Scanned\s+by"
    r"|Prepared\s+by|Created\s+by|Text\s+file\s+(?:produced|prepared)\s+by|Etext\s+by"
    r"|Transcriber'?s?\s+note:.*gutenberg)",
    _F,
)
# Lines that name PG and survived the marker cut (a last safety net).
_PG_LINE = re.compile(r"project\s+gutenberg|gutenberg\.(?:org|net)|gutenberg-tm", _F)

_HEADER_FIELD = re.compile(
    r"^\s*(Title|Author|Language|Release\s+Date|Posting\s+Date|Character\s+set\s+encoding)"
    r"\s*:\s*(.*?)\s*$",
    _F,
)
_NUMBER = re.compile(r"\[\s*(?:E-?Book|E-?text)\s*#\s*(\d+)\s*\]|\bE-?Book\s*#\s*(\d+)", _F)
_TITLE_LINE = re.compile(
    r"^\W*(?:The\s+)?Project\s+Gutenberg(?:'s)?\s+(?:E-?Book|E-?text)(?:\s+of|,)\s+(.+?),?"
    r"\s+by\s+(.+?)\s*$",
    _F,
)
_HEADER_LINES = 400


def decode_book(raw: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8, else the header's declared charset, else detection, else latin-1."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    m = re.search(
        rb"Character\s+set\s+encoding\s*:\s*([A-Za-z0-9._-]+)", raw[:20000], re.IGNORECASE
    )
    if m:
        label = m.group(1).decode("ascii").lower()
        try:
            return raw.decode(label), label
        except (LookupError, UnicodeDecodeError):
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw[:200_000]).best()
    if best is not None and best.encoding:
        try:
            return raw.decode(best.encoding), best.encoding
        except (LookupError, UnicodeDecodeError):
            pass
    return raw.decode("latin-1"), "latin-1"


def _header_meta(lines: list[str]) -> dict[str, str]:
    meta: dict[str, str] = {}
    head = lines[:_HEADER_LINES]
    for i, line in enumerate(head):
        m = _HEADER_FIELD.match(line)
        if not m:
            continue
        key = re.sub(r"\s+", "_", m.group(1).lower())
        value = m.group(2)
        # Titles and authors may continue on indented lines.
        j = i + 1
        while key in ("title", "author") and j < len(head) and head[j][:1] in (" ", "\t"):
            if head[j].strip():
                value += " " + head[j].strip()
            j += 1
        if key == "release_date" or key == "posting_date":
            value = _NUMBER.sub("", value).strip(" ,;")
            key = "release_date" if "release_date" not in meta else key
        if value and key not in meta:
            meta[key] = value
    for line in head:
        m = _NUMBER.search(line)
        if m:
            meta["ebook_number"] = m.group(1) or m.group(2)
            break
    if "title" not in meta or "author" not in meta:
        for line in head[:20]:
            m = _TITLE_LINE.match(line)
            if m:
                meta.setdefault("title", m.group(1).strip())
                meta.setdefault("author", m.group(2).strip())
                break
    return meta


def _body_bounds(lines: list[str]) -> tuple[int, int]:
    n = len(lines)
    start = next((i + 1 for i, line in enumerate(lines) if _START.match(line)), None)
    if start is None:
        sp_start = next((i for i, line in enumerate(lines) if _SMALL_PRINT_START.match(line)), None)
        sp_end = None
        if sp_start is not None:
            sp_end = next(
                (i for i in range(sp_start + 1, n) if _SMALL_PRINT_END.match(lines[i])), None
            )
        footer = next((i for i, line in enumerate(lines) if _END.match(line) and i != sp_start), n)
        if sp_start is not None and sp_end is not None and (sp_end < footer or sp_end < n // 2):
            start = sp_end + 1  # 1990s style: the small print precedes the book
        else:
            start = 0
    end = next((i for i in range(start, n) if _END.match(lines[i])), n)
    return start, end


def _paragraph_spans(lines: list[str]) -> list[tuple[int, int]]:
    """[start, end) line ranges of the non-blank paragraphs."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, line in enumerate(lines):
        if line.strip():
            if start is None:
                start = i
        elif start is not None:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(lines)))
    return spans


def _drop_credits(lines: list[str]) -> list[str]:
    """Remove producer-credit paragraphs among the first and last few paragraphs."""
    spans = _paragraph_spans(lines)
    edges = sorted(set(range(min(4, len(spans)))) | set(range(max(0, len(spans) - 3), len(spans))))
    drop = [
        spans[i]
        for i in edges
        if _CREDIT.match(para := " ".join(x.strip() for x in lines[slice(*spans[i])]))
        or _PG_LINE.search(para)
    ]
    for a, b in reversed(drop):
        del lines[a:b]
    return lines


def strip_gutenberg(text: str) -> tuple[str, dict[str, str]]:
    """Book text without any Project Gutenberg header, footer, licence or credits, and the
    header metadata (title, author, language, release_date, ebook_number, ...)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    meta = _header_meta(lines)
    start, end = _body_bounds(lines)
    body = _drop_credits(lines[start:end])
    body = [line for line in body if not _PG_LINE.search(line)]
    return "\n".join(body).strip("\n"), meta


def _members(path: Path) -> Iterator[tuple[str, bytes]]:
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic.startswith(b"PK"):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir() and info.filename.lower().endswith(".txt"):
                    yield info.filename, zf.read(info)
    elif magic.startswith(b"\x1f\x8b"):
        with gzip.open(path, "rb") as f:
            yield path.name, f.read()
    else:
        yield path.name, path.read_bytes()


def read_gutenberg(
    path: str | Path, config: IngestConfig | None = None, stats: Counter | None = None
) -> Iterator[RawDocument | RecordError]:
    """One RawDocument per book (one per `.txt` member of a zip)."""
    path = Path(path)
    stats = stats if stats is not None else Counter()
    members = _members(path)
    while True:
        try:
            name, raw = next(members)
        except StopIteration:
            return
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            stats["errors"] += 1
            yield RecordError(path.name, f"unreadable book archive ({type(exc).__name__})")
            return
        stats["books"] += 1
        text, encoding = decode_book(raw)
        body, header = strip_gutenberg(text)
        number = header.get("ebook_number")
        key = f"pg{number}" if number else hashlib.sha256(raw).hexdigest()
        meta: dict[str, str] = {
            "title": header.get("title", ""),
            "author": header.get("author", ""),
            "ebook_number": number or "",
            "language": header.get("language", ""),
            "release_date": header.get("release_date", ""),
            "license": LICENSE,
            "encoding": encoding,
            "file": name,
        }
        stats["documents"] += 1
        yield RawDocument(
            key=key,
            text=body,
            source="books",
            locator=number or name,
            position=name if name != path.name else 0,
            meta=meta,
        )
