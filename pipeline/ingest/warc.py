"""Streaming WARC reader: HTTP 2xx HTML `response` records to main-content text.

FastWARC's ArchiveIterator walks the records (faster than warcio: benchmarks/ingest.py);
payloads are read raw (`auto_decode="none"`) and decoded here, leniently:
`Transfer-Encoding: chunked` is undone when the body really is chunked, gzip/deflate/br
`Content-Encoding` is inflated even when the stream was cut short. Damage is reported as
RecordError and the walk goes on: after an unreadable record the reader resynchronises on the
next gzip member (record-at-a-time `.warc.gz`) or the next `WARC/1.x` line (plain WARC), and a
file cut in the middle of its last record ends with one RecordError.

A large WARC is read as several units (`warc_spans`, `read_warc(span=...)`): byte ranges cut
where a record starts, so that every core extracts from one big file. A `.warc.gz` is split
only when it is record-at-a-time (one gzip member per record, as Common Crawl writes them); a
single gzip stream cannot be entered in the middle and stays one unit.

Charset: HTTP header, then `<meta charset>`, then resiliparse's detector (charset-normalizer
as the last resort); text is decoded with errors="replace".
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from fastwarc.warc import ArchiveIterator, WarcHeader, WarcRecord, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import detect_encoding, map_encoding_to_html5
from resiliparse.parse.html import HTMLTree

from corpusforge.core.errors import environment_problem
from corpusforge.pipeline.ingest.config import IngestConfig
from corpusforge.pipeline.ingest.records import RawDocument, RecordError

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})

_CHARSET_PARAM = re.compile(r"charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]{0,512}?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.I)
_HTML_SNIFF = re.compile(rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.IGNORECASE)
_SCAN_CHUNK = 1 << 20
_TAIL_HEAD = 64 * 1024


# --------------------------------------------------------------------------- extraction


def _codec(label: str | None) -> str | None:
    """Map a declared charset label to a Python codec (WHATWG rules: latin-1 means cp1252)."""
    if not label:
        return None
    name = map_encoding_to_html5(label.strip().lower(), fallback_utf8=False)
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


@functools.lru_cache(maxsize=256)  # a crawl has few distinct Content-Type values
def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    m = _CHARSET_PARAM.search(content_type)
    return _codec(m.group(1)) if m else None


def detect_charset(html: bytes, content_type: str | None = None) -> str:
    """HTTP header charset, else BOM / <meta charset>, else statistical detection."""
    declared = charset_from_content_type(content_type)
    if declared:
        return declared
    if html.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    m = _META_CHARSET.search(html[:8192])
    if m:
        meta = _codec(m.group(1).decode("ascii", "replace"))
        if meta:
            return meta
    detected = _codec(detect_encoding(html))
    if detected:
        return detected
    from charset_normalizer import from_bytes

    best = from_bytes(html[:_TAIL_HEAD]).best()
    return (best and _codec(best.encoding)) or "utf-8"


def extract_html(
    html: bytes | str, content_type: str | None = None, config: IngestConfig | None = None
) -> tuple[str, str, str | None]:
    """Main-content text, <title> and the charset used (None when given a str).

    `config.web_extractor` picks resiliparse (`extract_plain_text(main_content=True)`) or
    trafilatura (`trafilatura.extract`).
    """
    text, title, charset = _extract(html, content_type, config or IngestConfig())
    return text, " ".join((title or "").split()), charset


def _extract(
    html: bytes | str, content_type: str | None, config: IngestConfig
) -> tuple[str, str | None, str | None]:
    """`extract_html` with the <title> as the parser gives it (the reader tidies it later)."""
    charset: str | None = None
    if isinstance(html, bytes):
        charset = detect_charset(html, content_type)
        html = html.decode(charset, errors="replace")
    if html.startswith("\ufeff"):
        html = html[1:]
    tree = HTMLTree.parse(html)
    title = tree.title
    if config.web_extractor == "trafilatura":
        import trafilatura

        text = trafilatura.extract(html, include_comments=False, include_tables=True) or ""
    else:
        text = extract_plain_text(tree, main_content=True, alt_texts=False, comments=False)
    return text, title, charset


# --------------------------------------------------------------------------- HTTP bodies


def dechunk(body: bytes) -> bytes:
    """Undo `Transfer-Encoding: chunked`. A body that is not really chunked (crawlers often
    store the decoded body but keep the header) is returned unchanged; a chunked body cut
    short keeps the chunks that are there."""
    out: list[bytes] = []
    pos, n = 0, len(body)
    while pos < n:
        eol = body.find(b"\n", pos)
        if eol < 0:
            if not out:
                return body
            break
        field = body[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(field, 16)
        except ValueError:
            if not out:
                return body
            break
        if size == 0:
            break
        start = eol + 1
        out.append(body[start : start + size])
        pos = start + size
        if body.startswith(b"\r\n", pos):
            pos += 2
        elif body.startswith(b"\n", pos):
            pos += 1
    return b"".join(out)


def _inflate(body: bytes, wbits: int) -> bytes:
    d = zlib.decompressobj(wbits)
    out = d.decompress(body)
    with contextlib.suppress(zlib.error):
        out += d.flush()
    return out


def decode_content(body: bytes, content_encoding: str) -> bytes:
    """Undo `Content-Encoding` (gzip, deflate, br, zstd), tolerating streams cut short.

    Raises ValueError for an unknown encoding or data that cannot be decoded at all."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):
        if coding in ("identity", "none", "utf-8", "binary"):
            continue
        if coding in ("gzip", "x-gzip"):
            if not body.startswith(b"\x1f\x8b"):
                continue  # header kept, body already decoded
            try:
                body = _inflate(body, 16 + zlib.MAX_WBITS)
            except zlib.error as exc:
                raise ValueError(f"corrupt gzip body ({exc})") from None
        elif coding == "deflate":
            try:
                body = _inflate(body, zlib.MAX_WBITS)
            except zlib.error:
                try:
                    body = _inflate(body, -zlib.MAX_WBITS)
                except zlib.error as exc:
                    raise ValueError(f"corrupt deflate body ({exc})") from None
        elif coding == "br":
            import brotli

            try:
                body = brotli.decompress(body)
            except brotli.error as exc:
                raise ValueError(f"corrupt brotli body ({exc})") from None
        elif coding == "zstd":
            import zstandard

            try:
                body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
            except zstandard.ZstdError as exc:
                raise ValueError(f"corrupt zstd body ({exc})") from None
        else:
            raise ValueError(f"unsupported Content-Encoding {coding[:40]!r}")
    return body


# --------------------------------------------------------------------------- file walking


def _strip_uri(uri: str | None) -> str:
    uri = (uri or "").strip()
    if uri.startswith("<") and uri.endswith(">"):
        uri = uri[1:-1].strip()
    return uri


def _find(fh: BinaryIO, needle: bytes, start: int) -> int | None:
    """Offset of the first `needle` at or after `start` (chunked scan, constant memory)."""
    keep = len(needle) - 1
    fh.seek(start)
    base, carry = start, b""
    while chunk := fh.read(_SCAN_CHUNK):
        buf = carry + chunk
        i = buf.find(needle)
        if i >= 0:
            return base - len(carry) + i
        carry = buf[-keep:] if keep else b""
        base += len(chunk)
    return None


def _resync(fh: BinaryIO, start: int, gzipped: bool) -> int | None:
    """Next plausible record start after `start`: a gzip member header or a WARC version line."""
    if gzipped:
        pos = start
        while (hit := _find(fh, b"\x1f\x8b\x08", pos)) is not None:
            fh.seek(hit)
            try:  # a real member inflates to a WARC header
                head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(fh.read(4096), 16)
            except zlib.error:
                head = b""
            if head.startswith(b"WARC/"):
                return hit
            pos = hit + 1
        return None
    hit = _find(fh, b"\nWARC/1.", max(start - 1, 0))
    return None if hit is None else hit + 1


def _expected_length(head: bytes) -> int | None:
    """Full length of the record whose start is `head` (header + block + CRLFCRLF)."""
    end = head.find(b"\r\n\r\n")
    if end < 0:
        return None
    for line in head[:end].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return end + 4 + int(value.strip()) + 4
            except ValueError:
                return None
    return None


def _tail_problem(fh: BinaryIO, last_pos: int, gzipped: bool) -> tuple[int, str] | None:
    """Check that the file really ends after the last record fastwarc returned.

    FastWARC stops silently when a file is cut inside a gzip member or a record header; this
    re-reads only the last record (and what follows it) to notice that."""
    fh.seek(last_pos)
    if not gzipped:
        head = fh.read(_TAIL_HEAD)
        total = fh.seek(0, 2) - last_pos
    else:
        head, total = b"", 0
        member_start = offset = last_pos
        in_member = False
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            while chunk := fh.read(_SCAN_CHUNK):
                while chunk:
                    out = d.decompress(chunk)
                    total += len(out)
                    if len(head) < _TAIL_HEAD:
                        head += out[: _TAIL_HEAD - len(head)]
                    if not d.eof:
                        offset += len(chunk)
                        in_member = True
                        break
                    rest = d.unused_data
                    offset += len(chunk) - len(rest)
                    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    in_member = False
                    member_start, chunk = offset, rest
        except zlib.error:
            return member_start, "corrupt gzip data at end of file; rest of file skipped"
        if in_member:
            return member_start, "gzip stream truncated (file cut inside a member)"
    expected = _expected_length(head)
    if expected is None:
        return None
    if total < expected - 4:
        return last_pos, f"record truncated: file ends {expected - 4 - total} bytes early"
    return None


def _gzipped(fh: BinaryIO) -> bool:
    fh.seek(0)
    return fh.read(2) == b"\x1f\x8b"


def _record_start(fh: BinaryIO, pos: int, gzipped: bool) -> bool:
    """Whether a WARC record header (whole, with a Content-Length) starts at `pos`; in a
    `.warc.gz`, as the start of a gzip member."""
    fh.seek(pos)
    raw = fh.read(_TAIL_HEAD)
    if gzipped:
        if not raw.startswith(b"\x1f\x8b\x08"):
            return False
        try:
            raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, _TAIL_HEAD)
        except zlib.error:
            return False
    return raw.startswith(b"WARC/1.") and _expected_length(raw) is not None


def _first_member_ends(fh: BinaryIO, within: int) -> bool:
    """Whether the first gzip member ends in the first `within` bytes: true of a
    record-at-a-time `.warc.gz`, false of one gzip stream over the whole file."""
    fh.seek(0)
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    read = 0
    try:
        while read < within and (chunk := fh.read(min(_SCAN_CHUNK, within - read))):
            read += len(chunk)
            d.decompress(chunk, 1 << 16)  # output thrown away; bounded per call
            while d.unconsumed_tail and not d.eof:
                d.decompress(d.unconsumed_tail, 1 << 16)
            if d.eof:
                return bool(d.unused_data) or fh.read(1) != b""
    except zlib.error:
        return False
    return False


def warc_spans(path: str | Path, units: int) -> list[tuple[int, int]]:
    """About `units` byte ranges of a WARC file, each starting where a record starts.

    Cut k is the first record start at or after k/units of the file, found by scanning for
    the next gzip member (`.warc.gz`) or `WARC/1.` line (plain WARC) whose header parses;
    none before the next cut means one range fewer. A `.warc.gz` that is one gzip stream
    stays one range. The same file gives the same ranges. A scan could in principle take the
    copy of a record inside a payload for a record start (a crawled WARC file); `read_warc`
    notices that (`overran`) and the stage then reads the file whole.
    """
    path = Path(path)
    size = path.stat().st_size
    if units <= 1 or size == 0:
        return [(0, size)]
    with open(path, "rb") as fh:
        gzipped = _gzipped(fh)
        if gzipped and not _first_member_ends(fh, max(size // units, 1)):
            return [(0, size)]
        cuts = [0]
        for k in range(1, units):
            limit = (k + 1) * size // units
            pos = max(k * size // units, cuts[-1] + 1)
            while pos < limit:
                hit = _resync(fh, pos, gzipped)
                if hit is None or hit >= limit:
                    break
                if _record_start(fh, hit, gzipped):
                    cuts.append(hit)
                    break
                pos = hit + 1
        cuts.append(size)
    return list(zip(cuts, cuts[1:], strict=False))


def read_warc(
    path: str | Path,
    config: IngestConfig | None = None,
    stats: Counter | None = None,
    span: tuple[int, int] | None = None,
) -> Iterator[RawDocument | RecordError]:
    """Yield one RawDocument per HTTP 2xx HTML response, RecordError for damaged records.

    `stats` (optional) counts records, responses and why records were skipped.

    `span` (start, end): only the records that start in that byte range (`warc_spans` cuts
    where records start). When the last record read runs past `end` without damage, `end`
    was not a record start after all and `stats["overran"]` is set: the caller then reads
    the file whole (the next unit would begin inside a record).

    Records are taken in batches (`_BATCH_PAGES` pages or `_BATCH_BYTES` of bodies): the
    header checks and body reads of a batch run together, then its pages are extracted one
    after another, then its documents are built and yielded together. One record at a time,
    every bit of Python between two extractions ran on caches the extraction had just
    evicted (docs/ingest.md has the measurements). Items come out in record order.
    """
    path = Path(path)
    config = config or IngestConfig()
    stats = stats if stats is not None else Counter()
    warc_file = path.name
    batch: list[_Page] = []
    with open(path, "rb") as fh:
        gzipped = _gzipped(fh)
        size = fh.seek(0, 2)
        start, end = span if span is not None else (0, size)
        whole = end >= size  # the walk reaches the end of the file (checked for a cut tail)
        next_pos: int | None = None  # the first record at or after `end`
        last_pos: int | None = None
        last_flagged = False
        pending: RecordError | None = None  # reported once the walk is back on its feet
        while True:
            fh.seek(start)
            failed_at: int | None = None
            try:
                iterator = ArchiveIterator(
                    fh, record_types=WarcRecordType.any_type, parse_http=True, auto_decode="none"
                )
                batch_bytes = 0
                for record in iterator:
                    if record.stream_pos >= end:
                        next_pos = record.stream_pos
                        break
                    if pending is not None:
                        yield pending
                        pending = None
                    last_pos, last_flagged = record.stream_pos, False
                    stats["records"] += 1
                    item = _read_page(record, last_pos, warc_file, stats)
                    if item is None:
                        continue
                    if isinstance(item, RecordError):
                        last_flagged = True
                        yield from _extract_pages(batch, warc_file, config, stats)  # order
                        batch.clear()
                        batch_bytes = 0
                        yield item
                        continue
                    batch.append(item)
                    batch_bytes += len(item[1])
                    if len(batch) >= _BATCH_PAGES or batch_bytes >= _BATCH_BYTES:
                        yield from _extract_pages(batch, warc_file, config, stats)
                        batch.clear()
                        batch_bytes = 0
            except (OSError, ValueError, EOFError) as exc:
                failed_at = last_pos if last_pos is not None else start
                reason = str(exc)[:120] or type(exc).__name__
            except Exception:  # unforeseen: the pages read before it still come first
                yield from _extract_pages(batch, warc_file, config, stats)
                raise
            if batch:  # the pages read before the end of the walk (or the damage)
                done = _extract_pages(batch, warc_file, config, stats)
                batch.clear()
                yield from done
                last = done[-1]
                if isinstance(last, RecordError) and last.position == last_pos:
                    last_flagged = True
            if failed_at is None:
                break
            nxt = _resync(fh, failed_at + 1, gzipped)
            if pending is None:  # several failed restarts in a row are one damaged stretch
                stats["errors"] += 1
                pending = RecordError(
                    failed_at, f"unreadable WARC data after byte {failed_at} ({reason})"
                )
            if nxt is None or nxt >= end:  # the next unit (if any) starts at `end` itself
                if whole:
                    pending.reason += "; rest of file skipped"
                else:
                    pending.reason = pending.reason.split("; resumed at", 1)[0]
                    pending.reason += f"; skipped to byte {end} (the next part of the file)"
                yield pending
                return
            pending.reason = pending.reason.split("; resumed at", 1)[0] + f"; resumed at byte {nxt}"
            start, last_pos = nxt, None
        if pending is not None:
            yield pending
            return
        if not whole:
            if next_pos != end and not last_flagged:
                stats["overran"] = 1
            return
        if last_pos is not None and not last_flagged:
            problem = _tail_problem(fh, last_pos, gzipped)
            if problem:
                stats["errors"] += 1
                yield RecordError(*problem)


# A page read, not yet extracted: position, body, Content-Type, MIME type, record id, target
# URI, date. A batch holds at most this many pages or body bytes (a huge page goes alone).
_Page = tuple[int, bytes, str, str, str, str, str]
_BATCH_PAGES = 32
_BATCH_BYTES = 4 << 20


def _read_page(
    record: WarcRecord, pos: int, warc_file: str, stats: Counter
) -> _Page | RecordError | None:
    """Everything about a record but its extraction: the checks, the body, the headers
    the document keeps (read here, while the record's data is in cache)."""
    if record.record_type != WarcRecordType.response:
        stats["non_response"] += 1
        return None
    stats["responses"] += 1
    if not record.is_http:
        stats["non_http"] += 1
        return None
    http = record.http_headers
    status = http.status_code if http is not None else None
    if status is None:
        stats["errors"] += 1
        return RecordError(pos, "unparseable HTTP status line or headers")
    if not 200 <= status < 300:
        stats["http_status"] += 1
        return None
    # Header names as WarcHeader members where fastwarc has one: a str key first fails to
    # convert to WarcHeader inside fastwarc (a Python exception built and dropped), which
    # makes `get("Content-Type")` much slower than `get(WarcHeader.CONTENT_TYPE)`.
    content_type = http.get(WarcHeader.CONTENT_TYPE) or ""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime and mime not in HTML_TYPES:
        stats["non_html"] += 1
        return None
    body = record.reader.read()  # OSError here (corrupt gzip) goes to the resync in read_warc
    if len(body) < record.content_length:
        stats["errors"] += 1
        return RecordError(
            pos, f"record truncated: {len(body)} of {record.content_length} payload bytes"
        )
    if not mime and not _HTML_SNIFF.search(body[:2048]):
        stats["non_html"] += 1
        return None
    # Transfer-Encoding and Content-Encoding have no WarcHeader member (str keys, slow):
    # looked up only when a header name has "-encoding" in it (fastwarc compares names
    # ASCII-case-insensitively, as bytes.lower() does).
    if b"-encoding" in b"\n".join(http.keys_bytes()).lower():
        try:
            if "chunked" in (http.get("Transfer-Encoding") or "").lower():
                body = dechunk(body)
            encoding = http.get("Content-Encoding")
            if encoding:
                body = decode_content(body, encoding)
        except ValueError as exc:
            stats["errors"] += 1
            return RecordError(pos, f"cannot decode HTTP body: {exc}")
    headers = record.headers
    return (
        pos,
        body,
        content_type,
        mime,
        (headers.get(WarcHeader.WARC_RECORD_ID) or "").strip() or f"{warc_file}@{pos}",
        _strip_uri(headers.get(WarcHeader.WARC_TARGET_URI)),
        headers.get(WarcHeader.WARC_DATE) or "",
    )


def _extract_pages(
    pages: list[_Page], warc_file: str, config: IngestConfig, stats: Counter
) -> list[RawDocument | RecordError]:
    """Extract a batch of pages: only the extraction runs page by page."""
    results: list[tuple[str, str | None, str | None] | str] = []
    for page in pages:
        try:
            results.append(_extract(page[1], page[2], config))
        except Exception as exc:  # extraction libraries raise many types on hostile HTML
            if problem := environment_problem(exc):  # not the page's fault: stop, name it
                raise problem from exc
            results.append(type(exc).__name__)
    out: list[RawDocument | RecordError] = []
    for (pos, _, _, mime, record_id, url, date), result in zip(pages, results, strict=True):
        if isinstance(result, str):
            stats["errors"] += 1
            out.append(RecordError(pos, f"HTML extraction failed ({result})"))
            continue
        text, title, charset = result
        stats["documents"] += 1
        out.append(
            RawDocument(
                key=record_id,
                text=text,
                source="web",
                locator=record_id,
                position=pos,
                meta={
                    "url": url,
                    "date": date,
                    "title": " ".join((title or "").split()),
                    "content_type": mime or "text/html",
                    "charset": charset,
                    "warc_file": warc_file,
                },
            )
        )
    return out
