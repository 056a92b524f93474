"""Pattern recognizers for credentials: cloud keys, tokens, private keys, passwords.

Only the secret value is replaced (lookbehinds keep `password=` or `https://user:` as context),
so the surrounding code or config still reads naturally after scrubbing.
"""

from __future__ import annotations

import math
from collections import Counter

import regex as re
from presidio_analyzer import Pattern

from corpusforge.pipeline.pii.base import CuePatternRecognizer, Prefilter
from corpusforge.pipeline.pii.gates import SPACE
from corpusforge.pipeline.pii.twins import AsciiTwin

CASE_SENSITIVE = re.MULTILINE | re.DOTALL

_TOKENS = [
    Pattern(
        "aws-access-key-id",
        r"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}(?![A-Z0-9])",
        0.9,
    ),
    Pattern(
        "aws-secret-key",
        r"(?i:aws.{0,20}?(?:secret|key).{0,20}?[=:]\s*[\"']?)(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        0.9,
    ),
    Pattern(
        "github-token",
        r"(?<!\w)(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})(?!\w)",
        0.95,
    ),
    Pattern(
        "openai-style-key", r"(?<![\w-])sk-(?:[A-Za-z0-9]+-){0,3}[A-Za-z0-9_\-]{20,}(?![\w-])", 0.9
    ),
    Pattern("stripe-key", r"(?<!\w)(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}(?!\w)", 0.9),
    Pattern("slack-token", r"(?<!\w)xox[abposr]-[A-Za-z0-9-]{10,}(?!\w)", 0.95),
    Pattern("slack-webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}", 0.95),
    Pattern("google-api-key", r"(?<!\w)AIza[0-9A-Za-z_\-]{35}(?![\w-])", 0.9),
    Pattern(
        "jwt",
        r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?![\w-])",
        0.95,
    ),
    Pattern(
        "private-key-block",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        1.0,
    ),
    # scheme://user:password@host: the password only.
    Pattern(
        "url-password",
        r"(?<=\b[a-z][a-z0-9+.-]{1,15})://[^\s:/@]{1,64}:(?P<value>[^\s@/]{1,128})(?=@[\w.-])",
        0.9,
    ),
]

_PASSWORD_KEYS = (
    r"(?:pass(?:word|wd|phrase)?|pwd|secret(?:_key)?|api[_-]?key|apikey|"
    r"access[_-]?token|auth[_-]?token|client[_-]?secret|private[_-]?key)"
)
# key = value / key: value / "key": "value" for password-like keys.
_ASSIGNMENT = Pattern(
    "password-assignment",
    r"(?i:(?<![a-z])" + _PASSWORD_KEYS + r"[\"']?\s{0,3}(?:=|:|=>|:=)\s{0,3}[\"']?)"
    r"(?P<value>(?![\"'<{$%]|\s|none\b|null\b|true\b|false\b|xxx|\*\*\*|changeme\b|<)"
    r"[^\s\"',;`)}\]]{4,200})",
    0.8,
)

# Literals a pattern cannot match without (patterns that start with a literal prefix are
# found as fast by the regex engine itself and have none). Where a match starts with its
# gate's match (after a lookbehind, which the regex engine cannot search for fast), `reach` is
# that gate's length: the scan starts there instead of at the text's start. ascii_twin: where the
# stdlib engine ran the scans of the benchmark's texts in fewer instructions (docs/pii.md,
# "Measurements behind the code"); the others start with a lookbehind that hides their literal
# prefix from it.
_PREFILTERS = {
    "aws-access-key-id": Prefilter(gate=r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)", reach=4),
    "aws-secret-key": Prefilter(
        needles=("aws",), fold=True, gate="aws", gate_caseless=True, reach=3, ascii_twin=True
    ),
    "github-token": Prefilter(gate=r"(?:gh[pousr]_|github_pat_)", reach=11),
    "openai-style-key": Prefilter(needles=("sk-",), gate="sk-", reach=3),
    "stripe-key": Prefilter(needles=("_live_", "_test_"), gate=r"[spr]k_(?:live|test)_", reach=8),
    "slack-token": Prefilter(needles=("xox",), gate=r"xox[abposr]-", reach=5),
    "slack-webhook": Prefilter(
        needles=("https://hooks.slack.com/services/",),
        gate=r"https://hooks\.slack\.com/services/",
    ),
    "google-api-key": Prefilter(needles=("AIza",), gate="AIza", reach=4),
    "jwt": Prefilter(needles=("eyJ",), gate=r"eyJ[\s\S]*\.eyJ"),
    "private-key-block": Prefilter(needles=("-----BEGIN ",), gate="-----BEGIN ", ascii_twin=True),
    "url-password": Prefilter(  # "://", the user (64 at most), ":"
        needles=("://",), gate=r"://[^\t\n\x0b\x0c\r :/@]+:", reach=68
    ),
    "password-assignment": Prefilter(
        needles=("pass", "pwd", "secret", "api", "access", "auth", "private"),
        fold=True,
        gate=_PASSWORD_KEYS + rf"[\"']?{SPACE}{{0,3}}[=:]",
        reach=20,  # the key (13 characters at most), a quote, 3 spaces, "=" or ":"
        gate_caseless=True,
    ),
}

_PLACEHOLDER_VALUE = re.compile(
    r"^(?:[<{$%].*|.*\$\{.*|\*+|x+|\.+|your[_-].*|example.*|placeholder.*|password|secret|"
    r"os\.environ.*|getenv.*|env\[.*|process\.env.*|self\..*|none|null|required|optional|str|"
    r"string|input\(.*|settings\..*|config\..*|args\..*)$",
    re.IGNORECASE,
)

_CALL = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\(.*")
# Values are mostly ASCII: there the stdlib twins answer (a cheaper call than `regex`'s).
# fullmatch as a match up to \Z (the stdlib twin has match only).
_ASCII_PLACEHOLDER_VALUE = AsciiTwin(_PLACEHOLDER_VALUE.pattern, re.IGNORECASE)
_ASCII_CALL = AsciiTwin(rf"(?:{_CALL.pattern})\Z")


def shannon_entropy(value: str) -> float:
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


class SecretRecognizer(CuePatternRecognizer):
    """Vendor token formats (fixed prefixes) and generic password assignments."""

    def __init__(self) -> None:
        super().__init__(
            supported_entity="SECRET",
            name="CorpusforgeSecret",
            patterns=[*_TOKENS, _ASSIGNMENT],
            global_regex_flags=CASE_SENSITIVE,
            prefilters=_PREFILTERS,
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        if pattern_text.startswith(("-----BEGIN", "eyJ", "https://hooks")):
            return True
        if pattern_text.isascii():
            placeholder, call = _ASCII_PLACEHOLDER_VALUE.match, _ASCII_CALL.match
        else:
            placeholder, call = _PLACEHOLDER_VALUE.match, _CALL.fullmatch
        if placeholder(pattern_text):
            return False
        # Identifiers in code (password = get_password()) are not secrets.
        if call(pattern_text):
            return False
        return None


def secret_recognizers() -> list[CuePatternRecognizer]:
    return [SecretRecognizer()]
