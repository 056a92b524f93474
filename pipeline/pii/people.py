"""Person names that NER misses: names signalled by their place in the text.

Headers and trailers (`From:`, `Signed-off-by:`, `-- Name <email>`, `Name <email>`),
greetings and sign-offs, bylines, titles (Dr., Ms.) and "my name is ...". These work in any
letter case, which is where a statistical model is weakest.
"""

from __future__ import annotations

import regex as re
from presidio_analyzer import Pattern, RecognizerResult

from pipeline.pii.base import CuePatternRecognizer, Prefilter, first_char_alternation
from pipeline.pii.gates import LOWER, NON_ASCII, SCAN, UPPER

_NOT_A_NAME = (
    "the a an and or of to in for on at is was not this that it all any team support admin "
    "everyone there guys folks sir madam customer user users you your me we us our all hi hello "
    "dear thanks thank regards best cheers sincerely from to re fw fwd subject date sent cc bcc "
    "reply no yes none null unknown anonymous undisclosed recipients list mailing noreply "
    "sales info help service desk bot automated system root"
).split()


def _any(alternatives: tuple[str, ...]) -> str:
    return "(?:" + "|".join(alternatives) + ")"


_STOP = r"(?!(?i:" + first_char_alternation(tuple(_NOT_A_NAME)) + r")\b)"
# A name: capitalised tokens (or initials like "J."), or lower-case words that are not
# function words; never a mix, so "Amara Okafor today" stops before "today".
_CAP_T = r"(?:\p{Lu}\.|\p{Lu}\p{L}*(?:['’-]\p{L}+)*)"
_LOW_T = _STOP + r"\p{Ll}+(?:['’-]\p{L}+)*"
_NAME = rf"(?:{_CAP_T}(?:[ \t]+{_CAP_T}){{0,3}}|{_LOW_T}(?:[ \t]+{_LOW_T}){{0,2}})"

# A name starts with a letter: testing that first spares the `_STOP` lookahead elsewhere.
_V = rf"(?P<value>(?=[\p{{Lu}}\p{{Ll}}]){_STOP}{_NAME})"

# Cue words: gates take them as one alternation (hyperscan builds one automaton either way),
# patterns grouped by first character.
_HEADER_CUES = (
    "from", "to", "cc", "bcc", "reply-to", "author", "committer", "signed-off-by",
    "co-authored-by", "acked-by", "reviewed-by", "tested-by", "reported-by", "suggested-by",
    "helped-by", "cc-by", "contact", "name", "full name", "assignee", "reporter", "owner",
    "maintainer", "submitted by", "posted by", "written by",
)  # fmt: skip
_BYLINE_CUE = (
    "my name is", "my name's", "i am called", "name:", "named", "call me", "written by",
    "posted by", "authored by", "reported by", "edited by", "photo by", "by:",
    "contact person:?", "attn:?", "c/o", "courtesy of", "interviewed", "signed,?", "cc:?", "ping",
)  # fmt: skip
_GREETINGS = (
    "hi", "hello", "hey", "dear", "greetings", "good (?:morning|afternoon|evening)", "thanks",
    "thank you", "thx",
)  # fmt: skip
_TITLES = (
    "mr", "mrs", "ms", "mx", "miss", "dr", "prof", "professor", "sir", "dame", "rev", "judge",
    "officer", "sgt", "capt", "det",
)  # fmt: skip
_SIGN_OFFS = (
    "regards", "best regards", "kind regards", "warm regards", "best wishes", "best", "cheers",
    "thanks", "thank you", "many thanks", "sincerely", "yours sincerely", "yours truly",
    "respectfully", "cordially", "love", "--", "—", "-",
)  # fmt: skip

_PATTERNS = [
    # Mail and git headers; the value up to an address, bracket or end of line.
    Pattern(
        "header",
        r"(?im)^[ \t>]*"
        + first_char_alternation(_HEADER_CUES)
        + r"[ \t]*:[ \t]*(?:\"|')?"
        + _V
        + r"(?=[ \t]*(?:\"|')?[ \t]*(?:<|\(|\[|,|;|$|\n))",
        0.85,
    ),
    # Bylines and introductions.
    Pattern(
        "byline",
        r"(?i:\b" + first_char_alternation(_BYLINE_CUE) + r"[ \t]+)" + _V + r"(?![^\W\d_])",
        0.7,
    ),
    # Greetings: "Hi John,", "Dear Ms. Smith", "hello maria".
    Pattern(
        "greeting",
        r"(?im:^[ \t]*"
        + first_char_alternation(_GREETINGS)
        + r"[ \t]+(?:(?:mr|mrs|ms|miss|dr|prof)\.?[ \t]+)?)"
        + _V
        + r"(?=[ \t]*[,!:\n]|[ \t]*$)",
        0.8,
    ),
    # Titles: "Dr. Jane Doe", "mrs smith".
    Pattern(
        "title",
        r"(?i:\b" + first_char_alternation(_TITLES) + r"\.?[ \t]+)" + _V + r"(?![^\W\d_])",
        0.75,
    ),
    # Sign-off line followed by a short line that is only a name.
    Pattern(
        "signature",
        r"(?im:^[ \t]*"
        + first_char_alternation(_SIGN_OFFS)
        + r"[ \t]*[,.!]?[ \t]*\n[ \t]*)"
        + _V
        + r"(?=[ \t]*$)",
        0.85,
    ),
    # "-- Jane Doe" closing a post or mail.
    Pattern("dash-signature", r"(?m)^[ \t]*(?:--|—)[ \t]+" + _V + r"(?=[ \t]*$)", 0.8),
    # An initial and a surname: "J. Roberts", "S. O'Brien".
    Pattern(
        "initial-surname",
        r"(?<![\w.])\p{Lu}\.[ \t]?(?:\p{Lu}\.[ \t]?)?"
        r"\p{Lu}\p{Ll}+(?:['’-]\p{Lu}?\p{Ll}+)*(?![\w.])",
        0.6,
    ),
]
_BYLINE_CUES = (
    "my name is", "my name's", "i am called", "name:", "named", "call me", "written by",
    "posted by", "authored by", "reported by", "edited by", "photo by", "by:", "contact person",
    "attn", "c/o", "courtesy of", "interviewed", "signed", "cc", "ping",
)  # fmt: skip
_PREFILTERS = {
    "header": Prefilter(
        needles=(":",),
        gate=rf"^[ \t>]*{_any(_HEADER_CUES)}[ \t]*:",
        gate_caseless=True,
        same_line=True,
    ),
    "byline": Prefilter(
        needles=_BYLINE_CUES,
        fold=True,
        gate=rf"{_any(_BYLINE_CUE)}[ \t]",
        gate_caseless=True,
        reach=20,  # the longest cue, "contact person:", and a space
    ),
    "greeting": Prefilter(
        gate=rf"^[ \t]*{_any(_GREETINGS)}[ \t]", gate_caseless=True, same_line=True
    ),
    # \b as in the pattern ("items ", "address " held a title without it: 97 of the 700
    # benchmark texts opened, 3 now); hyperscan's ASCII \b is one wherever regex's is.
    "title": Prefilter(gate=rf"\b{_any(_TITLES)}\.?[ \t]", gate_caseless=True, reach=11),
    "signature": Prefilter(
        gate=rf"^[ \t]*{_any(_SIGN_OFFS)}[ \t]*[,.!]?[ \t]*\n", gate_caseless=True, same_line=True
    ),
    # The rest of the line is the name ("-- Name <mail>  date" trailers are not: 84 of the 700
    # benchmark texts opened, 34 now, where it matches in 33).
    "dash-signature": Prefilter(
        needles=("--", "—"),
        gate=rf"^[ \t]*(?:--|—)[ \t]+[A-Za-z{NON_ASCII}][A-Za-z'.\-\t {NON_ASCII}]*$",
        same_line=True,
    ),
    "initial-surname": Prefilter(
        gate=rf"{UPPER}\.[ \t]?(?:{UPPER}\.[ \t]?)?{UPPER}{LOWER}", reach=8
    ),
}
# "Jane Doe <jane@example.org>", "-- Jane Doe <jane@...>": find the bracketed address first
# (rare, fast to scan for), then the name just before it on the same line.
_BRACKETED_EMAIL = re.compile(r"[<(\[][ \t]*[\w.+-]+@[\w-]+\.[\w.-]+[ \t]*[>)\]]")
_NAME_AT_END = re.compile(r"(?<![\w@])" + _V + r"[ \t]*$")
# The name and the blanks after it hold only these characters: the search for it starts after
# the last other character before the address (a search tries every position: ~10 us a line).
_LAST_NOT_IN_NAME = re.compile(r"(?r)[^\p{L}'’.\- \t]")


class ContextualNameRecognizer(CuePatternRecognizer):
    def __init__(self) -> None:
        super().__init__(
            supported_entity="PERSON",
            name="CorpusforgeContextualName",
            patterns=_PATTERNS,
            global_regex_flags=re.MULTILINE,
            prefilters=_PREFILTERS,
        )

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None, gates_open=SCAN):
        results = super().analyze(text, entities, nlp_artifacts, regex_flags, gates_open)
        if self.use_prefilters and "@" not in text:
            return results
        for m in _BRACKETED_EMAIL.finditer(text):
            line_start = max(text.rfind("\n", 0, m.start()) + 1, m.start() - 80)
            if self.use_prefilters:
                other = _LAST_NOT_IN_NAME.search(text, line_start, m.start())
                line_start = other.end() if other else line_start
            before = _NAME_AT_END.search(text, line_start, m.start())
            if before and self.validate_result(before.group("value")) is not False:
                start, end = before.span("value")
                results.append(RecognizerResult("PERSON", start, end, 0.85))
        return results

    def validate_result(self, pattern_text: str) -> bool | None:
        words = pattern_text.split()
        if not words or len(pattern_text) > 60:
            return False
        return None
