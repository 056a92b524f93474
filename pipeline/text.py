"""Text normalisation applied to every ingested document.

It runs on every document of every corpus, so it is written for speed. Extractors mostly
return text that is already clean, and proving that is far cheaper than rewriting it:
`_is_clean` checks the UTF-8 bytes with a handful of vectorised NumPy comparisons, which
cost far less per byte than Python's `re` and multi-byte `in` tests (docs/ingest.md has the
figures). Only text that fails the check takes the full rewrite, whose whitespace passes
work on UTF-8 bytes with byte-literal patterns (cheaper than Unicode character classes) and
are each skipped when a substring test finds nothing to do.
"""

import re
import threading
import unicodedata

import numpy as np

# C0/C1 control characters except tab and newline; lone surrogates; U+FFFE/U+FFFF.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]+")
_C0_BYTES = bytes(range(0x00, 0x09)) + b"\x0b\x0c" + bytes(range(0x0E, 0x20)) + b"\x7f"
_C1_OR_NONCHAR = re.compile(rb"\xc2[\x80-\x9f]|\xef\xbf[\xbe\xbf]")

# Space-like characters in UTF-8: tab, NBSP, U+2000-U+200B, U+202F, U+205F, U+3000.
_ODD_SPACE = re.compile(rb"\t|\xc2\xa0|\xe2\x80[\x80-\x8b\xaf]|\xe2\x81\x9f|\xe3\x80\x80")
_SPACE_RUN = re.compile(rb"  +")
_EDGE_SPACES = re.compile(rb" \n ?|\n ")
_BLANK_LINES = re.compile(rb"\n{3,}")

_SPACE, _NEWLINE = 0x20, 0x0A

# The batch check's buffers (the joined UTF-8 and three masks of its size) are kept per
# thread between batches up to this size: fresh temporaries of that size are page-faulted in
# again whenever malloc has handed the memory back. A larger batch (a huge document) gets
# buffers that are not kept.
_KEPT_BUFFER_BYTES = 4 << 20
_buffers = threading.local()


def _multibyte_clean(a: np.ndarray, raw: bytes) -> bool:
    """No C1 control, odd space or U+FFFE/U+FFFF among the multi-byte characters of valid
    UTF-8 `raw` (as array `a`). Only lead bytes that occur are looked at (memchr-fast)."""
    # U+0080-U+00A0: C1 controls and NBSP.
    if b"\xc2" in raw and (a[(a == 0xC2).nonzero()[0] + 1] <= 0xA0).any():
        return False
    if b"\xe2" in raw:  # U+2000-U+200B, U+202F, U+205F
        i = (a == 0xE2).nonzero()[0]
        b1, b2 = a[i + 1], a[i + 2]
        if ((b1 == 0x80) & ((b2 <= 0x8B) | (b2 == 0xAF))).any() or (
            (b1 == 0x81) & (b2 == 0x9F)
        ).any():
            return False
    # U+3000 and the noncharacters: their lead bytes are rare outside CJK text.
    return not (b"\xe3\x80\x80" in raw or b"\xef\xbf\xbe" in raw or b"\xef\xbf\xbf" in raw)


def _is_clean(text: str, raw: bytes) -> bool:
    """True when normalize_text would return `text` unchanged (`raw` is its UTF-8)."""
    if not raw or raw[0] in b" \n" or raw[-1] in b" \n" or b"\x7f" in raw:
        return False
    a = np.frombuffer(raw, np.uint8)
    space = a == _SPACE
    if (space[:-1] & space[1:]).any():
        return False
    low = (a < _SPACE).nonzero()[0]  # newlines, and any control character, tab or CR
    if len(low):  # few per document: look at each one and its neighbours
        if (a[low] != _NEWLINE).any() or space[low - 1].any() or space[low + 1].any():
            return False  # (never first or last byte: checked above)
        if len(low) > 2 and ((low[2:] - low[:-2]) == 2).any():  # three newlines in a row
            return False
    return text.isascii() or (_multibyte_clean(a, raw) and unicodedata.is_normalized("NFC", text))


def normalize_texts(texts: list[str]) -> tuple[list[str], list[bytes]]:
    """`normalize_text` of each text, and its UTF-8 encoding.

    The clean-text check runs once over the whole batch (the texts joined by newlines): per
    document, NumPy's call overhead and temporaries cost several times the scan itself. A
    separator can only make a neighbour look dirty, never clean, and a document flagged by
    mistake just takes the full rewrite, which returns clean text unchanged."""
    if not texts:
        return [], []
    raws: list[bytes] = []
    for text in texts:
        try:
            raws.append(text.encode("utf-8"))
        except UnicodeEncodeError:  # lone surrogates: empty here, so flagged for the rewrite
            raws.append(b"")
    dirty = _dirty_in_batch(texts, raws).tolist()
    out = list(texts)
    for i in [i for i, d in enumerate(dirty) if d]:
        out[i] = _rewrite(texts[i])
        raws[i] = out[i].encode("utf-8")
    return out, raws


def _dirty_in_batch(texts: list[str], raws: list[bytes]) -> np.ndarray:
    """Per document: True unless `_is_clean` would hold (`raws` are the texts' UTF-8)."""
    n = len(raws)
    lens = np.fromiter(map(len, raws), np.int64, n)
    starts = np.empty(n, np.int64)
    starts[0:1] = 2
    np.cumsum(lens[:-1] + 1, out=starts[1:])
    starts[1:] += 2
    # ".\nDOC0\nDOC1\n...\nDOCn-1\n.": the dots keep every neighbour lookup inside the buffer.
    size = int(starts[-1] + lens[-1]) + 2
    a, space, low_mask, pairs = _batch_buffers(size)
    view = memoryview(a)
    for start, raw in zip(starts.tolist(), raws, strict=True):
        view[start : start + len(raw)] = raw
    a[starts - 1] = _NEWLINE
    a[0], a[-2], a[-1] = 0x2E, _NEWLINE, 0x2E
    dirty = lens == 0
    full = ~dirty
    edge = np.concatenate([a[starts[full]], a[starts[full] + lens[full] - 1]])
    dirty[full] = ((edge == _SPACE) | (edge == _NEWLINE)).reshape(2, -1).any(axis=0)
    np.equal(a, _SPACE, out=space)
    np.less(a, _SPACE, out=low_mask)  # newlines (separators too), controls
    if any(b"\x7f" in raw for raw in raws):  # DEL is rare: memchr, not two more passes
        low_mask |= a == 0x7F
    low = low_mask.nonzero()[0]
    suspects = [
        np.logical_and(space[:-1], space[1:], out=pairs).nonzero()[0],  # double space
        low[a[low] != _NEWLINE],  # a control character, tab or CR
        low[space[low - 1] | space[low + 1]],  # space before or after a newline
        low[1:-1][(low[2:] - low[:-2]) == 2],  # three newlines in a row
    ]
    pos = np.concatenate(suspects)
    if len(pos):
        dirty[np.clip(np.searchsorted(starts, pos, side="right") - 1, 0, n - 1)] = True
    for i in (~dirty).nonzero()[0].tolist():
        text = texts[i]
        if not text.isascii():
            s = int(starts[i])
            view = a[s : s + int(lens[i])]
            dirty[i] = not (
                _multibyte_clean(view, raws[i]) and unicodedata.is_normalized("NFC", text)
            )
    return dirty


def _batch_buffers(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bytes, two masks of `size` and one of `size - 1`: views of this thread's kept arrays."""
    kept = getattr(_buffers, "arrays", None)
    if kept is None or len(kept[0]) < size:
        if size > _KEPT_BUFFER_BYTES:
            kept = (np.empty(size, np.uint8), *(np.empty(size, np.bool_) for _ in range(3)))
        else:
            cap = min(max(size, 1 << 20), _KEPT_BUFFER_BYTES)
            kept = (np.empty(cap, np.uint8), *(np.empty(cap, np.bool_) for _ in range(3)))
            _buffers.arrays = kept
    data, space, low, pairs = kept
    return data[:size], space[:size], low[:size], pairs[: size - 1]


def normalize_text(text: str) -> str:
    """NFC, control characters stripped, runs of spaces collapsed, lines stripped, at most
    one blank line between paragraphs."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return _rewrite(text)
    return text if _is_clean(text, raw) else _rewrite(text)


def _rewrite(text: str) -> str:
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
    # Substring tests before the regex, which scans far slower.
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


def _has_controls(raw: bytes) -> bool:
    if len(raw.translate(None, _C0_BYTES)) != len(raw):
        return True
    return (b"\xc2" in raw or b"\xef\xbf" in raw) and _C1_OR_NONCHAR.search(raw) is not None
