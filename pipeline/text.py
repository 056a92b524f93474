"""Text normalisation applied to every ingested document.

It runs on every document of every corpus, so it is written for speed: the whitespace passes
work on UTF-8 bytes with byte-literal patterns (Python's `re` scans those several times faster
than Unicode character classes), each pass is skipped when a cheap substring test shows
nothing to do, and NFC normalisation runs only on text that is not NFC already.
"""

import re
import unicodedata

# C0/C1 control characters except tab and newline; lone surrogates; U+FFFE/U+FFFF.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]+")
_C0_BYTES = bytes(range(0x00, 0x09)) + b"\x0b\x0c" + bytes(range(0x0E, 0x20)) + b"\x7f"
_C1_OR_NONCHAR = re.compile(rb"\xc2[\x80-\x9f]|\xef\xbf[\xbe\xbf]")

# Space-like characters in UTF-8: tab, NBSP, U+2000-U+200B, U+202F, U+205F, U+3000.
_ODD_SPACE = re.compile(rb"\t|\xc2\xa0|\xe2\x80[\x80-\x8b\xaf]|\xe2\x81\x9f|\xe3\x80\x80")
_SPACE_RUN = re.compile(rb"  +")
_EDGE_SPACES = re.compile(rb" \n ?|\n ")
_BLANK_LINES = re.compile(rb"\n{3,}")


def _has_controls(raw: bytes) -> bool:
    if len(raw.translate(None, _C0_BYTES)) != len(raw):
        return True
    return (b"\xc2" in raw or b"\xef\xbf" in raw) and _C1_OR_NONCHAR.search(raw) is not None


def normalize_text(text: str) -> str:
    """NFC, control characters stripped, runs of spaces collapsed, lines stripped, at most
    one blank line between paragraphs."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        raw = b"\x00"
    if _has_controls(raw):
        text = _CONTROL.sub("", text)
        raw = text.encode("utf-8")
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
        raw = text.encode("utf-8")
    # Substring tests (memchr-fast) before the regex, which scans far slower.
    if (
        b"\t" in raw
        or b"\xc2\xa0" in raw
        or b"\xe2\x80" in raw
        or b"\xe2\x81\x9f" in raw
        or b"\xe3\x80\x80" in raw
    ):
        raw = _ODD_SPACE.sub(b" ", raw)
    if b"  " in raw:
        raw = _SPACE_RUN.sub(b" ", raw)
    if b" \n" in raw or b"\n " in raw:
        raw = _EDGE_SPACES.sub(b"\n", raw)
    if b"\n\n\n" in raw:
        raw = _BLANK_LINES.sub(b"\n\n", raw)
    return raw.strip(b" \n").decode("utf-8")
