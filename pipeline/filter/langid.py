"""Language identification with models that ship inside their wheels (nothing downloads).

`cld2` (pycld2, Google's Compact Language Detector 2) is the default: it is the fastest by two
orders of magnitude and as accurate as the others on documents over 200 characters (see
docs/filter.md for the comparison measured by benchmarks/filter.py). `lingua`
(lingua-language-detector) is more accurate on very short texts and much slower; it is used
when configured and installed (it is in the `bench` extra, not a runtime dependency).

`identify(text)` returns an ISO 639-1 code (or "und") and a confidence in [0, 1].
"""

from __future__ import annotations

import re
from functools import cache
from typing import Protocol

from corpusforge.core.errors import ConfigError

UNDETERMINED = "und"
# C0/C1 control characters (except tab and newline) and lone surrogates: CLD2 refuses text
# that is not valid UTF-8, and binary junk decoded as text is full of them.
_UNSAFE_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


class Identifier(Protocol):
    name: str

    def identify(self, text: str) -> tuple[str, float]: ...


class Cld2Identifier:
    """CLD2: the share of the text's letters in the top language, when CLD2 calls its answer
    reliable; half of it when not (short or mixed text), so a minimum confidence of 0.5 keeps
    only reliable answers."""

    name = "cld2"

    def __init__(self) -> None:
        import pycld2

        self._detect = pycld2.detect
        self._error = pycld2.error

    def identify(self, text: str) -> tuple[str, float]:
        clean = _UNSAFE_RE.sub(" ", text)
        try:
            reliable, _, details = self._detect(clean, bestEffort=True)
        except self._error:
            return UNDETERMINED, 0.0
        name, code, percent, _score = details[0]
        if code in ("un", "xx") or name == "Unknown" or percent == 0:
            return UNDETERMINED, 0.0
        confidence = percent / 100.0
        if not reliable:
            confidence *= 0.5
        return _normalise_code(code), round(confidence, 4)


class LinguaIdentifier:
    """Lingua: its confidence value for the top language (all languages, high accuracy)."""

    name = "lingua"

    def __init__(self) -> None:
        try:
            from lingua import LanguageDetectorBuilder
        except ImportError:
            raise ConfigError(
                "language identifier 'lingua' needs lingua-language-detector "
                "(pip install 'corpusforge[bench]'); or use 'cld2'"
            ) from None
        self._detector = LanguageDetectorBuilder.from_all_languages().build()

    def identify(self, text: str) -> tuple[str, float]:
        clean = _UNSAFE_RE.sub(" ", text)
        values = self._detector.compute_language_confidence_values(clean)
        if not values or values[0].value <= 0:
            return UNDETERMINED, 0.0
        top = values[0]
        return top.language.iso_code_639_1.name.lower(), round(float(top.value), 4)


_CODES = {"iw": "he", "jw": "jv", "zh-Hant": "zh", "zh-Hans": "zh", "in": "id", "mo": "ro"}


def _normalise_code(code: str) -> str:
    return _CODES.get(code, code.split("-")[0].lower())


_BACKENDS = {"cld2": Cld2Identifier, "lingua": LinguaIdentifier}


@cache
def get_identifier(name: str) -> Identifier:
    """One identifier per process (lingua loads its models lazily, cld2 has none to load)."""
    if name not in _BACKENDS:
        raise ConfigError(f"unknown language identifier {name!r} (one of {sorted(_BACKENDS)})")
    return _BACKENDS[name]()
