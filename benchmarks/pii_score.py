"""One leakage definition for every PII set the benchmark reads (issue 16).

A document's PII is counted in units: unique (document, PII string, type). A unit leaks when its
string still occurs in the scrubbed text with no letter or digit (ASCII) directly before or
after it. A hard negative is a unique (document, negative string) unit; it is falsely redacted
when it occurs fewer times in the scrubbed text than in the input. A document that the density
policy drops is scored as empty text: it leaks nothing, and the drops are counted and reported.
Leakage is reported per type and per sub-type (`PERSON/first`, `PHONE_NUMBER/intl` ...).

This is the definition pii-dev's `score.py` uses in text mode, written here on its own: the
benchmark does not import that file, and the two are compared on the same outputs by hand
(docs/pii.md).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# pii-dev's labels to the stage's entity types (its LOCATION is a street address).
LABELS = {"LOCATION": "STREET_ADDRESS"}
_DATE = re.compile(r"^\d{1,4}[-/]\d{1,2}[-/]\d{1,4}$")


def load_pii_dev(path: str | Path, limit: int | None = None) -> list[dict]:
    """pii-dev records as benchmark documents: spans (start, end, type, sub), negatives
    (start, end, kind)."""
    docs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            docs.append(
                {
                    "id": rec["id"],
                    "kind": rec.get("genre", ""),
                    "text": rec["text"],
                    "spans": [
                        (s["start"], s["end"], LABELS.get(s["label"], s["label"]), s.get("sub"))
                        for s in rec.get("spans", [])
                    ],
                    "negatives": [
                        (n["start"], n["end"], n.get("kind", "")) for n in rec.get("negatives", [])
                    ],
                }
            )
            if limit is not None and len(docs) >= limit:
                break
    return docs


def from_generator(docs: list[dict]) -> list[dict]:
    """The generated set (benchmarks/pii_data.py) in the same shape: no sub-types; a negative's
    kind is `date` when it reads as one."""
    out = []
    for d in docs:
        text = d["text"]
        out.append(
            {
                **d,
                "spans": [(s, e, t, None) for s, e, t in d["spans"]],
                "negatives": [
                    (s, e, "date" if _DATE.match(text[s:e]) else "other") for s, e in d["negatives"]
                ],
            }
        )
    return out


def occurrences(value: str, text: str) -> int:
    """How often `value` occurs in `text` with no ASCII letter or digit right before or after."""
    return len(re.findall(r"(?<![A-Za-z0-9])" + re.escape(value) + r"(?![A-Za-z0-9])", text))


@dataclass
class Leakage:
    units: Counter = field(default_factory=Counter)  # by type and by "type/sub"
    leaked: Counter = field(default_factory=Counter)
    negatives: Counter = field(default_factory=Counter)  # by kind
    redacted: Counter = field(default_factory=Counter)
    documents: int = 0
    dropped: int = 0

    def rate(self, key: str) -> float | None:
        return self.leaked[key] / self.units[key] if self.units[key] else None

    def false_redaction(self, dates: bool = False) -> float:
        kinds = [k for k in self.negatives if dates or k != "date"]
        n = sum(self.negatives[k] for k in kinds)
        return sum(self.redacted[k] for k in kinds) / n if n else 0.0


def leakage(docs: list[dict], outputs: list[str], dropped: list[bool] | None = None) -> Leakage:
    """Score scrubbed `outputs` (one per document; a dropped document's output is ignored and
    scored as empty text)."""
    result = Leakage()
    dropped = dropped or [False] * len(docs)
    for doc, out, drop in zip(docs, outputs, dropped, strict=True):
        text = doc["text"]
        result.documents += 1
        if drop:
            result.dropped += 1
            out = ""
        seen: set[tuple[str, str]] = set()
        for s, e, t, sub in doc["spans"]:
            value = text[s:e]
            if (value, t) in seen:  # one unit per (string, type); its first sub-type names it
                continue
            seen.add((value, t))
            leaked = occurrences(value, out) > 0
            for key in (t, f"{t}/{sub or '-'}", "ALL"):
                result.units[key] += 1
                result.leaked[key] += leaked
        negatives: set[str] = set()
        for s, e, kind in doc["negatives"]:
            value = text[s:e]
            if value in negatives:
                continue
            negatives.add(value)
            result.negatives[kind] += 1
            result.redacted[kind] += occurrences(value, out) < occurrences(value, text)
    return result
