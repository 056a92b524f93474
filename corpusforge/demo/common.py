"""Seeded randomness and byte-stable encodings shared by the demo corpus's writers."""

from __future__ import annotations

import hashlib
import random
import struct
import unicodedata
import uuid
import zlib
from datetime import UTC, datetime

BASE_TIME = datetime(2024, 3, 4, 6, 0, 0, tzinfo=UTC)


def seeded_rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(["corpusforge-sample", str(seed), *map(str, parts)]))


def record_uuid(seed: int, *parts: object) -> str:
    digest = hashlib.sha256(":".join(["warc", str(seed), *map(str, parts)]).encode()).digest()
    return f"<urn:uuid:{uuid.UUID(bytes=digest[:16], version=4)}>"


def gzip_member(data: bytes) -> bytes:
    """One gzip member, mtime 0, no file name, OS 'unknown': the same bytes everywhere."""
    co = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = co.compress(data) + co.flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def fold(text: str, encoding: str) -> str:
    """Make `text` encodable in `encoding`: typographic quotes to ASCII, accents stripped."""
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        return text
    out = []
    for ch in text:
        try:
            ch.encode(encoding)
            out.append(ch)
        except UnicodeEncodeError:
            repl = {"“": '"', "”": '"', "‘": "'", "’": "'", "—": "--", "–": "-", "…": "..."}
            ch = (
                repl.get(ch) or unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            )
            out.append(ch)
    return "".join(out)


def slug(text: str) -> str:
    keep = "".join(c.lower() if c.isalnum() else "-" for c in fold(text, "ascii"))
    return "-".join(p for p in keep.split("-") if p)[:60]
