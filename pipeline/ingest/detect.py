"""Source format detection by content (magic bytes and a peek), never by file suffix alone.

Real dumps are named loosely (the enwiki split dumps end in `.bz2`, not `.xml.bz2`), so the
decision is made from the bytes. Error messages name the file, never its content.
"""

from __future__ import annotations

import bz2
import gzip
import re
import zipfile
from pathlib import Path

from corpusforge.core.errors import InputError

FORMATS = ("warc", "gutenberg", "mediawiki", "dataset")

_PEEK = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_BZ2_MAGIC = b"BZh"
_ZIP_MAGIC = b"PK\x03\x04"
_PARQUET_MAGIC = b"PAR1"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

_PG_MARKER = re.compile(
    rb"project\s+gutenberg|\*{3}\s*start\s+of\s+(?:the|this)\s|small\s+print!", re.IGNORECASE
)
_MEDIAWIKI_ROOT = re.compile(rb"<mediawiki[\s>]")


def _strip_bom(data: bytes) -> bytes:
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def _kind_of_text(head: bytes) -> str | None:
    """Classify a decompressed or plain peek of a file."""
    body = _strip_bom(head).lstrip()
    if body.startswith(b"WARC/"):
        return "warc"
    if body.startswith(b"<") and _MEDIAWIKI_ROOT.search(body[:8192]):
        return "mediawiki"
    if body.startswith(b"{"):
        return "dataset"
    if _looks_like_text(head) and _PG_MARKER.search(head):
        return "gutenberg"
    return None


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    sample = head[:8192]
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return controls <= len(sample) // 100


def _peek_gzip(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as f:
            return f.read(_PEEK)
    except (OSError, EOFError):
        # A truncated first member still yields a usable peek through zlib.
        import zlib

        with open(path, "rb") as f:
            raw = f.read(_PEEK)
        try:
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, _PEEK)
        except zlib.error:
            return b""


def _peek_bz2(path: Path) -> bytes:
    try:
        with bz2.open(path, "rb") as f:
            return f.read(_PEEK)
    except (OSError, EOFError):
        return b""


def _zip_has_text(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any(name.lower().endswith(".txt") for name in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def detect_format(path: str | Path) -> str:
    """Return "warc", "gutenberg", "mediawiki" or "dataset" for a local file.

    Raises InputError for a missing, empty or unrecognised file.
    """
    path = Path(path)
    name = path.name
    if not path.exists():
        raise InputError(f"{name}: no such file")
    if not path.is_file():
        raise InputError(f"{name}: not a regular file")
    with open(path, "rb") as f:
        magic = f.read(_PEEK)
    if not magic:
        raise InputError(f"{name}: empty file")

    kind: str | None
    if magic.startswith(_GZIP_MAGIC):
        kind = _kind_of_text(_peek_gzip(path))
        what = "gzip"
    elif magic.startswith(_BZ2_MAGIC):
        kind = _kind_of_text(_peek_bz2(path))
        what = "bzip2"
    elif magic.startswith(_ZIP_MAGIC):
        kind = "gutenberg" if _zip_has_text(path) else None
        what = "zip archive without .txt members"
    elif magic.startswith(_PARQUET_MAGIC):
        kind = "dataset"
        what = "parquet"
    elif magic.startswith(_ZSTD_MAGIC):
        kind = "warc" if ".warc" in name.lower() else None
        what = "zstd"
    else:
        kind = _kind_of_text(magic)
        what = "binary data" if not _looks_like_text(magic) else "text without known markers"
    if kind is None:
        raise InputError(f"{name}: unknown format ({what})")
    return kind
