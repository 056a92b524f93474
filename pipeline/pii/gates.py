"""Gates: one hyperscan pass over a text tells which patterns cannot match it.

The `regex` engine tries a pattern at every position of the text, and a
recognizer has up to eleven patterns. A gate is a simpler expression, for hyperscan's
multi-pattern automaton, that matches somewhere in every text where its pattern matches (a
necessary condition); patterns whose gate finds nothing are not run. Skipping never changes the
results, only the time: tests/test_pii_engine.py compares against the plain scan.

Gates are written so that this holds in Unicode text too: hyperscan sees UTF-8 and knows only
ASCII classes, so wherever a pattern's class admits non-ASCII characters (\\d, \\s, \\w, \\p{Lu})
the gate admits every non-ASCII character (`NON_ASCII`). One gap remains: case-insensitive
`regex` patterns match ASCII letters to İ, ſ and K (Kelvin), which a caseless gate would not;
texts holding one of those run every pattern.

Compiling the databases costs seconds of CPU, paid by every worker process of every command, so
compiled databases are kept on disk (`gate_cache_dir()`), keyed by everything that shapes them,
and loaded in milliseconds; a file that does not verify is compiled again.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import threading
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

try:  # x86-64 wheels only; without it every pattern runs (same results, slower)
    import hyperscan
except ImportError:  # pragma: no cover - platform without wheels
    hyperscan = None

NON_ASCII = r"\x{80}-\x{10ffff}"
DIGIT = rf"[0-9{NON_ASCII}]"  # \d in `regex` is any Unicode decimal digit
SPACE = rf"[\t\n\x0b\x0c\r {NON_ASCII}]"  # \s: ASCII white space and Unicode White_Space
UPPER = rf"[A-Z{NON_ASCII}]"  # \p{Lu}
LOWER = rf"[a-z{NON_ASCII}]"  # \p{Ll}
# Non-ASCII characters that `regex`'s IGNORECASE matches to ASCII letters (simple case folding).
CASEFOLDS_TO_ASCII = frozenset("\u0130\u017f\u212a")
_NONE_FOUND: dict[int, int] = {}
SCAN = object()  # "scan the text yourself", where a recognizer may be handed a scan's result


class Gates:
    """Compiled gates of one recognizer, keyed by pattern index."""

    def __init__(self, gates: dict[int, tuple[str, bool]]):
        self.specs = gates  # key -> (expression, caseless)
        self.keys = frozenset(gates) if hyperscan is not None else frozenset()
        self._local = threading.local()  # hyperscan scratch space is per thread
        self._ascii = self._utf8 = None  # compiled at first use (a GateSet may do all scans)

    def open(self, text: str) -> dict[int, int] | None:
        """The gates found in `text`, each with the end of its first match (in characters), or
        None when the gates cannot decide (run every pattern)."""
        if not self.keys:
            return None
        if self._ascii is None:
            # ASCII texts (most) get a byte-mode copy without the non-ASCII ranges: smaller
            # automata, no UTF-8 decoding.
            ascii_only = {k: (e.replace(NON_ASCII, ""), c) for k, (e, c) in self.specs.items()}
            self._utf8 = _compile(tuple(sorted(self.specs.items())), hyperscan.HS_FLAG_UTF8)
            self._ascii = _compile(tuple(sorted(ascii_only.items())))
        if text.isascii():
            db, data = self._ascii, text.encode("ascii")
        else:
            if not CASEFOLDS_TO_ASCII.isdisjoint(text):
                return None
            try:
                db, data = self._utf8, text.encode("utf-8")
            except UnicodeEncodeError:  # lone surrogates: not valid UTF-8 for hyperscan
                return None
        scratches = getattr(self._local, "scratches", None)
        if scratches is None:
            scratches = self._local.scratches = {
                id(d): hyperscan.Scratch(d) for d in (self._ascii, self._utf8)
            }
        scratch = scratches[id(db)]
        found: dict[int, int] = {}
        db.scan(data, match_event_handler=_collect, context=found, scratch=scratch)
        if db is self._utf8:
            found = _in_characters(data, found)
        return found


def _in_characters(data: bytes, ends: dict[int, int]) -> dict[int, int]:
    """Byte offsets (at character boundaries) to character offsets, decoding each byte once."""
    out, done, chars = {}, 0, 0
    for key, end in sorted(ends.items(), key=lambda item: item[1]):
        chars += len(data[done:end].decode("utf-8"))
        done = end
        out[key] = chars
    return out


@cache  # compiling is slow: every detector of a process shares the databases (read-only)
def _compile(items: tuple[tuple[int, tuple[str, bool]], ...], mode: int = 0):
    gates = dict(items)
    order = sorted(gates)
    flags = mode | hyperscan.HS_FLAG_MULTILINE | hyperscan.HS_FLAG_SINGLEMATCH
    spec = {
        "expressions": [gates[k][0] for k in order],
        "ids": order,
        "flags": [flags | (hyperscan.HS_FLAG_CASELESS if gates[k][1] else 0) for k in order],
    }
    path = _cached_path(spec)
    if path is not None and (db := _load(path)) is not None:
        return db
    db = hyperscan.Database()
    db.compile(
        expressions=[e.encode() for e in spec["expressions"]], ids=spec["ids"], flags=spec["flags"]
    )
    if path is not None:
        _store(path, db)
    return db


def gate_cache_dir() -> Path:
    """Where compiled gate databases are kept: `CORPUSFORGE_GATE_CACHE` (empty: nowhere), else
    corpusforge/hyperscan in the user's cache directory (`XDG_CACHE_HOME`, else ~/.cache)."""
    chosen = os.environ.get("CORPUSFORGE_GATE_CACHE")
    if chosen is not None:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "corpusforge" / "hyperscan"


def _cached_path(spec: dict) -> Path | None:
    if not os.environ.get("CORPUSFORGE_GATE_CACHE", "unset"):
        return None
    # A database is compiled for this hyperscan and this CPU's instruction sets: both are keyed.
    key = {**spec, "hyperscan": hyperscan.__version__, "cpu": _cpu_signature(), "format": 1}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return gate_cache_dir() / f"{digest[:40]}.hsdb"


@cache
def _cpu_signature() -> str:
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        pass
    return f"{platform.machine()} {hashlib.sha256(flags.encode()).hexdigest()}"


_DIGEST_BYTES = 32  # a stored database is its sha256, then its serialized bytes


def _load(path: Path):
    """The database stored at `path`, or None (absent, truncated, altered, or refused by
    hyperscan, as for a CPU the key did not tell apart)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    digest, payload = data[:_DIGEST_BYTES], data[_DIGEST_BYTES:]
    if not payload or hashlib.sha256(payload).digest() != digest:
        return None
    try:
        return hyperscan.loadb(payload, hyperscan.HS_MODE_BLOCK)
    except hyperscan.error:
        return None


def _store(path: Path, db) -> None:
    """Write atomically (another process may load the same key meanwhile); a cache that cannot
    be written is only a missed saving."""
    payload = hyperscan.dumpb(db)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".hsdb")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(hashlib.sha256(payload).digest() + payload)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


class GateSet:
    """The gates of several recognizers in one database: one scan of a text serves them all
    (a scan costs a few microseconds, as much as a short text's regex scans now do)."""

    def __init__(self, members: Sequence[Gates]):
        self._owner: list[tuple[int, int]] = []  # gate id -> (member, key)
        specs = {}
        for m, gates in enumerate(members):
            for key, spec in gates.specs.items():
                specs[len(self._owner)] = spec
                self._owner.append((m, key))
        self._gates = Gates(specs)
        self._size = len(members)

    def open(self, text: str) -> list[dict[int, int] | None]:
        """`Gates.open` of every member, from one scan."""
        found = self._gates.open(text)
        if found is None:
            return [None] * self._size
        out: list[dict[int, int]] = [_NONE_FOUND] * self._size  # shared: only ever read
        owner = self._owner
        for gid, end in found.items():
            m, key = owner[gid]
            if out[m] is _NONE_FOUND:
                out[m] = {key: end}
            else:
                out[m][key] = end
        return out


def _collect(key: int, start: int, end: int, flags: int, found: dict[int, int]) -> None:
    found[key] = end  # single-match gates: reported once, at their first (leftmost) end


def alternatives(words: Iterable[str]) -> str:
    """Literal words as one alternation (escaped for hyperscan's PCRE syntax)."""
    return "(?:" + "|".join(map(_escape, words)) + ")"


def _escape(word: str) -> str:
    return "".join("\\" + c if c in _SPECIAL else c for c in word)


_SPECIAL = frozenset(".^$*+?()[]{}|\\/-")
