"""Person names that NER misses: names signalled by their place in the text.

Headers and trailers (`From:`, `Signed-off-by:`, `-- Name <email>`, `Name <email>`),
greetings and sign-offs, bylines, titles (Dr., Ms.) and "my name is ...". These work in any
letter case, which is where a statistical model is weakest.
"""

from __future__ import annotations

import re as stdre
import string
from collections.abc import Iterator

import regex as re
from presidio_analyzer import Pattern, RecognizerResult

from corpusforge.pipeline.pii.base import (
    CuePatternRecognizer,
    Prefilter,
    TailScan,
    first_char_alternation,
    reverse_pattern,
    tail_spans,
    with_tail_gates,
)
from corpusforge.pipeline.pii.gates import DIGIT, LOWER, NON_ASCII, SCAN, UPPER, alternatives
from corpusforge.pipeline.pii.twins import stdlib_twin, twin_ready

_NOT_A_NAME = (
    "the a an and or of to in for on at is was not this that it all any team support admin "
    "everyone there guys folks sir madam customer user users you your me we us our all hi hello "
    "dear thanks thank regards best cheers sincerely from to re fw fwd subject date sent cc bcc "
    "reply no yes none null unknown anonymous undisclosed recipients list mailing noreply "
    "sales info help service desk bot automated system root contact email e-mail phone tel "
    "address web website home about news menu login some many much more most few his her "
    "their its him them these those what which who whom whose mom dad mum doctor boss darling "
    "honey sweetheart buddy mate everybody anyone someone nobody guest again world anyway back "
    "aboard god goodness heavens"
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
# Capitalised names only (where a lower-case word after the cue is more often not a name),
# also in list order: "Okafor, Amara".
_CAP_NAME = rf"{_CAP_T}(?:[ \t]+{_CAP_T}){{0,3}}"
_REVERSED = r"\p{Lu}\p{Ll}+,[ \t]+\p{Lu}\p{Ll}+(?=[,;.)]|[ \t]+\p{Ll})"
# Capitalised (also "Okafor, Amara"), or two or three lower-case words ("ran into maria lopez").
_LOW_2 = rf"{_LOW_T}[ \t]+{_LOW_T}(?:[ \t]+{_LOW_T})?"
_VCL = rf"(?P<value>(?=[\p{{Lu}}\p{{Ll}}]){_STOP}(?:{_REVERSED}|{_CAP_NAME}|{_LOW_2}))"

# Cue words: gates take them as one alternation (hyperscan builds one automaton either way),
# patterns grouped by first character.
_HEADER_CUES = (
    "from", "to", "cc", "bcc", "reply-to", "author", "committer", "signed-off-by",
    "co-authored-by", "acked-by", "reviewed-by", "tested-by", "reported-by", "suggested-by",
    "helped-by", "cc-by", "contact", "name", "full name", "assignee", "reporter", "owner",
    "maintainer", "submitted by", "posted by", "written by", "customer", "client", "patient",
    "applicant", "agent", "caller", "tenant", "guest", "employee", "student", "requester",
    "requested by", "closed by", "opened by", "assigned to", "approved by", "handled by",
    "account holder", "cardholder", "card holder", "recipient", "sender", "attendee",
    "beneficiary", "witness", "landlord", "manager", "supervisor", "signed", "contact person",
    "emergency contact", "next of kin", "guardian", "parent", "spouse", "member", "volunteer",
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
    "officer", "sgt", "capt", "det", "agent", "nurse", "coach", "uncle", "aunt", "auntie",
    "grandma", "grandpa", "señor", "señora", "herr", "frau", "mme", "mlle", "sr", "sra",
)  # fmt: skip
_SIGN_OFFS = (
    "regards", "best regards", "kind regards", "warm regards", "best wishes", "best", "cheers",
    "thanks", "thank you", "many thanks", "sincerely", "yours sincerely", "yours truly",
    "respectfully", "cordially", "love", "--", "—", "-", "thanks in advance", "thanks again",
    "thanks so much", "thank you so much", "all the best", "take care", "talk soon", "warmly",
    "warm wishes", "with thanks", "with best wishes", "yours", "yours faithfully", "ciao",
    "cordialement", "bien à vous", "mit freundlichen grüßen", "viele grüße", "liebe grüße",
    "saludos", "un saludo", "atentamente", "met vriendelijke groet", "groeten", "distinti saluti",
    "cordiali saluti", "med vänliga hälsningar", "hälsningar", "pozdrawiam",
)  # fmt: skip
# Words that put a person right after them: relations, roles, speech, addressing.
_RELATION_CUES = (
    "addressed to", "belongs to", "belonged to", "signature of", "signed by", "closed by",
    "opened by", "assigned to", "handled by", "escalated to", "approved by", "on behalf of",
    "ask for", "asked for", "ran into", "bumped into", "met with", "spoke with", "spoke to",
    "talked to", "talking to", "heard from", "heard back from", "back from", "the name",
    "agent", "my neighbour", "my neighbor", "our neighbour", "our neighbor", "my landlord",
    "our landlord", "my colleague", "my friend", "my cousin", "my wife", "my husband",
    "my partner", "my sister", "my brother", "my mother", "my father", "my son", "my daughter",
    "my boss", "my manager", "my doctor", "my teacher", "said", "asked", "replied",
    "whispered", "shouted", "added", "told", "thanks to", "care of", "attention of",
    "invited", "congratulations to", "condolences to", "married", "introducing", "paging",
)  # fmt: skip
# Addressing someone in running text: a greeting, thanks, an apology, congratulations or a
# sign-off opening a sentence, then a capitalised name ("thanks Mia for the fix", "Sorry Mia,",
# "Talk soon, Mia"). Words that also open ordinary sentences ("Best practices", "Love it")
# count only with their comma.
_ADDRESS_CUES = (
    "hi", "hello", "hey", "dear", "thanks", "thank you", "thx", "many thanks", "cheers", "sorry",
    "congrats", "congratulations", "welcome", "welcome back", "welcome aboard", "good morning",
    "good afternoon", "good evening", "good night", "good luck", "happy birthday", "bye",
    "goodbye", "see you", "take care", "talk soon", "best,", "love,", "regards,", "kind regards,",
    "best regards,", "great job", "well done", "nice work", "great work", "good job",
)  # fmt: skip
# A first name as people write them: capitalised, lower case after ("Mia", "Anne-Sophie"), not
# a product's inner capitals ("GitHub") or an acronym.
_FIRST_NAME = r"\p{Lu}\p{Ll}+(?:[-'’]\p{Lu}?\p{Ll}+)*"
# After a name: what only follows a person's name ("Jane Doe, ssn=...", "Jane Doe (born 1970)").
_AFTER_NAME_CUES = ("ssn", "dob", "d.o.b.", "date of birth", "born", "aged", "née", "nee")

_INITIAL = r"\p{Lu}(?<![\w.]\p{Lu})"  # a capital after no word character or "."
_QUOTE_END = '["”’]'

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
    # A relation, role or speech verb, then a name: "belongs to Jane Doe", "ask for Amara",
    # "said Jane", "addressed to Doe, Jane", "ran into jane doe".
    Pattern(
        "relation",
        r"(?i:\b" + first_char_alternation(_RELATION_CUES) + r")[ \t]+" + _VCL + r"(?![^\W\d_])",
        0.7,
    ),
    # Addressing someone at the end of a quoted utterance: "Where were you, Jane?", "Late
    # again, Jane Doe," she said.
    Pattern(
        "vocative",
        r",[ \t]+(?P<value>(?=\p{Lu})" + _STOP + _CAP_NAME + r")[ \t]*[?!.,]" + _QUOTE_END,
        0.7,
    ),
    # A name shouted or called out on its own: "JANE DOE!" she shouted.
    Pattern(
        "called-out",
        r"[\"“](?P<value>(?=\p{Lu})"
        + _STOP
        + _CAP_T
        + r"(?:[ \t]+"
        + _CAP_T
        + r"){1,3})[!?]"
        + _QUOTE_END,
        0.7,
    ),
    # A letter's salutation without a greeting word: "Jane,", "Jane -" and a blank line.
    Pattern(
        "salutation",
        r"(?m)^[ \t]*(?P<value>(?=\p{Lu})" + _STOP + _CAP_T + r"(?:[ \t]+" + _CAP_T + r")?)"
        r"[ \t]*(?:,|[ \t]-|—)[ \t]*\n[ \t]*\n",
        0.7,
    ),
    # Addressing someone in running text (cues above): a sentence's or line's start, the cue,
    # one or two capitalised names, then punctuation, the line's end, or "for"/"on".
    Pattern(
        "addressing",
        r"(?im:(?:^|[.!?][ \t]+|\bok(?:ay)?[, \t]+)[ \t]*"
        + first_char_alternation(_ADDRESS_CUES)
        + r",?[ \t]+)(?P<value>(?=\p{Lu})"
        + _STOP
        + _FIRST_NAME
        + r"(?:[ \t]+"
        + _FIRST_NAME
        + r")?)(?=[ \t]*(?:[,.!?;:)]|$)|[ \t]+(?:for|on)\b)",
        0.7,
    ),
    # Introductions and quote headers: "This is Mia from billing", "Mia Wong wrote:" at a
    # line's start or after the date of "On Tue, 4 Mar, Mia Wong wrote:".
    Pattern(
        "introduction",
        r"(?i:\bthis is[ \t]+)(?P<value>(?=\p{Lu})"
        + _STOP
        + _FIRST_NAME
        + r")(?=[ \t]+(?i:from|here|speaking)\b)",
        0.7,
    ),
    Pattern(
        "wrote",
        r"(?m:(?:^[ \t>]*|,[ \t]*))(?P<value>(?=\p{Lu})"
        + _STOP
        + _FIRST_NAME
        + r"(?:[ \t]+"
        + _FIRST_NAME
        + r"){0,2})(?:[ \t]+<[^<>\n]{1,80}>)?[ \t]+(?:wrote|writes):",
        0.75,
    ),
    # An initial and a surname: "J. Roberts", "S. O'Brien". The capital comes first, the test
    # of the character before it second ((?<![\w.])\p{Lu} as \p{Lu}(?<![\w.]\p{Lu})): `regex`
    # then looks for capitals only instead of testing the lookbehind at every position.
    Pattern(
        "initial-surname",
        _INITIAL + r"\.[ \t]?(?:\p{Lu}\.[ \t]?)?"
        r"\p{Lu}\p{Ll}+(?:['’-]\p{Lu}?\p{Ll}+)*(?![\w.])",
        0.6,
    ),
]
_RELATION_GATE = alternatives(c for c in _RELATION_CUES)
_BYLINE_CUES = (
    "my name is", "my name's", "i am called", "name:", "named", "call me", "written by",
    "posted by", "authored by", "reported by", "edited by", "photo by", "by:", "contact person",
    "attn", "c/o", "courtesy of", "interviewed", "signed", "cc", "ping",
)  # fmt: skip
# ascii_twin: where the stdlib engine ran the pattern's scans of the benchmark's texts in fewer
# instructions (docs/pii.md, "Measurements behind the code"); not title nor initial-surname
# (`regex` finds \p{Lu} first).
_NOT_WORD_OR_DOT = r"[^A-Za-z0-9_.]"  # [^\w.] on ASCII; admits every non-ASCII character
_PREFILTERS = {
    "header": Prefilter(
        needles=(":",),
        gate=rf"^[ \t>]*{_any(_HEADER_CUES)}[ \t]*:",
        gate_caseless=True,
        same_line=True,
        ascii_twin=True,
    ),
    "byline": Prefilter(
        needles=_BYLINE_CUES,
        fold=True,
        gate=rf"{_any(_BYLINE_CUE)}[ \t]",
        gate_caseless=True,
        reach=20,  # the longest cue, "contact person:", and a space
        ascii_twin=True,
    ),
    "greeting": Prefilter(
        gate=rf"^[ \t]*{_any(_GREETINGS)}[ \t]",
        gate_caseless=True,
        same_line=True,
        ascii_twin=True,
    ),
    # \b as in the pattern ("items ", "address " held a title without it: 97 of the 700
    # benchmark texts opened, 3 now); hyperscan's ASCII \b is one wherever regex's is.
    "title": Prefilter(gate=rf"\b{_any(_TITLES)}\.?[ \t]", gate_caseless=True, reach=11),
    "signature": Prefilter(
        gate=rf"^[ \t]*{_any(_SIGN_OFFS)}[ \t]*[,.!]?[ \t]*\n",
        gate_caseless=True,
        same_line=True,
        ascii_twin=True,
    ),
    # The rest of the line is the name ("-- Name <mail>  date" trailers are not: 84 of the 700
    # benchmark texts opened, 34 now, where it matches in 33).
    "dash-signature": Prefilter(
        needles=("--", "—"),
        gate=rf"^[ \t]*(?:--|—)[ \t]+[A-Za-z{NON_ASCII}][A-Za-z'.\-\t {NON_ASCII}]*$",
        same_line=True,
        ascii_twin=True,
    ),
    "relation": Prefilter(
        gate=rf"\b{_RELATION_GATE}[ \t]+[A-Za-z{NON_ASCII}]",
        gate_caseless=True,
        reach=30,  # the longest cue, "congratulations to", a blank and a letter
    ),
    # (the name, at most 60 characters, before the gate's end)
    # (a match and its cue begin on one line; the cue opens a sentence or the line, as in the
    # pattern: a cue word alone opened nearly every text, "hi" inside "this")
    "addressing": Prefilter(
        gate=rf"(?:^|[.!?][ \t]+|ok(?:ay)?[, \t]+)[ \t]*{_any(_ADDRESS_CUES)},?[ \t]+"
        rf"[A-Z{NON_ASCII}]",
        gate_caseless=True,
        same_line=True,
    ),
    "introduction": Prefilter(
        needles=("this is",),
        fold=True,
        gate=rf"this is[ \t]+[A-Z{NON_ASCII}]",
        gate_caseless=True,
        same_line=True,
    ),
    "wrote": Prefilter(
        needles=("wrote:", "writes:"),
        gate=r"[ \t](?:wrote|writes):",
        same_line=True,
    ),
    "vocative": Prefilter(gate=r',[ \t]+[^\n,]*[?!.,](?:"|”|’)', same_line=True),
    "called-out": Prefilter(gate=r'(?:"|“)[^\n"“]*[!?](?:"|”|’)', same_line=True),
    "salutation": Prefilter(gate=r"(?:,|[ \t]-|—)[ \t]*\n[ \t]*\n", reach=80),
    # The whole match with the characters around it ("U.S. Army", "A.B.C." are not: 240 of the
    # 700 benchmark texts opened, 100 now, where it matches in 100). The gate ends at most one
    # character after the match, which lies on one line: scanning starts at that line.
    "initial-surname": Prefilter(
        gate=rf"(?:^|{_NOT_WORD_OR_DOT}){UPPER}\.[ \t]?(?:{UPPER}\.[ \t]?)?"
        rf"{UPPER}{LOWER}+(?:['\-{NON_ASCII}]{UPPER}?{LOWER}+)*(?:{_NOT_WORD_OR_DOT}|$)",
        same_line=True,
    ),
}
# "Jane Doe <jane@example.org>", "-- Jane Doe <jane@...>": find the bracketed address first
# (rare, fast to scan for), then the name just before it on the same line.
_BRACKETED_EMAIL = re.compile(r"[<(\[][ \t]*[\w.+-]+@[\w-]+\.[\w.-]+[ \t]*[>)\]]")
_NAME_AT_END = re.compile(r"(?<![\w@])" + _V + r"[ \t]*$")
# The name and the blanks after it hold only these characters: the search for it starts after
# the last other character before the address (a search would try every position).
_LAST_NOT_IN_NAME = re.compile(r"(?r)[^\p{L}'’.\- \t]")
# A bracketed address holds one "@" and starts at the bracket before the run of [\w.+-] and the
# blanks that end there: found from each "@" (a reverse match, anchored at the "@"), not by a
# scan that tries every position of the text.
_OPENING_BEFORE_AT = re.compile(r"(?r)[<(\[][ \t]*+[\w.+-]++")


# What only follows a person's name ("jane doe, ssn=...", "Jane Doe (born 1970)"), and a
# bracketed phone number after a capitalised name ("Jane Doe (555-234-5678)"): cue first.
_AFTER_NAME = TailScan(
    tail=stdre.compile(
        r"(?:,[ \t]*|\([ \t]*)(?:"
        + "|".join(map(stdre.escape, _AFTER_NAME_CUES))
        + r")(?![^\W\d_])",
        stdre.IGNORECASE,
    ),
    head=reverse_pattern(r"(?<![\w'’.-])" + _V + r"[ \t]*$"),
    gate=rf"(?:,|\()[ \t]*{_any(_AFTER_NAME_CUES)}",
    gate_caseless=True,
)
_NAME_PHONE = TailScan(
    # (not a span of years: "(2018-2021)")
    tail=stdre.compile(r"\((?!(?:19|20)\d\d[ \t]*[-–/])[ \t]*\+?\d[\d \t().-]{5,}\d[ \t]*\)"),
    head=reverse_pattern(
        r"(?<![\w'’.-])(?P<value>(?=\p{Lu})"
        + _STOP
        + _CAP_T
        + r"(?:[ \t]+"
        + _CAP_T
        + r"){1,3})[ \t]*$"
    ),
    gate=rf"\([ \t]*\+?{DIGIT}[0-9 \t().\-{NON_ASCII}]{{5,}}{DIGIT}[ \t]*\)",
)
_TAIL_SCANS = (_AFTER_NAME, _NAME_PHONE)
# A name opening a contact line with an e-mail address: "jane doe | jane@example.org", tried
# at the start of each line with an "@".
_CONTACT_LINE = re.compile(r"[ \t]*" + _V + r"[ \t]*[|•·]")


# On text where twins hold (pipeline/pii/twins.py) the stdlib engine runs the same expressions
# (cheaper calls than `regex`'s), and [\w.+-] and [\p{L}'’.\- \t] are these characters.
_TWIN_BRACKETED_EMAIL = stdlib_twin(_BRACKETED_EMAIL.pattern)
_TWIN_NAME_AT_END = stdlib_twin(_NAME_AT_END.pattern)
_LOCAL_PART_CHARS = string.ascii_letters + string.digits + "_.+-"
_NAME_CHARS = string.ascii_letters + "'’.- \t"


def _regex_bracketed_emails(text: str) -> Iterator:
    """The matches `_BRACKETED_EMAIL.finditer(text)` gives: each holds exactly one "@" and the
    bracket it starts with cannot lie inside another, so none is missed or found twice."""
    at = text.find("@")
    while at >= 0:
        opening = _OPENING_BEFORE_AT.match(text, 0, at)
        if opening is not None:
            m = _BRACKETED_EMAIL.match(text, opening.start())
            if m is not None:
                yield m
        at = text.find("@", at + 1)


def _twin_bracketed_emails(text: str) -> Iterator:
    """`_regex_bracketed_emails` on twin-ready text, the bracket found by str.rstrip."""
    at = text.find("@")
    while at >= 0:
        opening = _twin_opening(text, at)
        if opening >= 0:
            m = _TWIN_BRACKETED_EMAIL.match(text, opening)
            if m is not None:
                yield m
        at = text.find("@", at + 1)


# str.rstrip looks at most this far back from an "@" (a slice of all the text before each "@"
# would copy a long document over and over); a longer run goes to the reverse pattern.
_OPENING_WINDOW = 256


def _twin_opening(text: str, at: int) -> int:
    """Where `_OPENING_BEFORE_AT` matches, ending at the "@" at `at`; -1 where it does not."""
    low = max(0, at - _OPENING_WINDOW)
    head = text[low:at].rstrip(_LOCAL_PART_CHARS)
    if len(head) == at - low:  # no local part before the "@"
        return -1
    head = head.rstrip(" \t")
    if not head and low:  # the run goes on past the window
        opening = _OPENING_BEFORE_AT.match(text, 0, at)
        return -1 if opening is None else opening.start()
    return low + len(head) - 1 if head.endswith(("<", "(", "[")) else -1


def _regex_name_start(text: str, line_start: int, end: int) -> int:
    other = _LAST_NOT_IN_NAME.search(text, line_start, end)
    return other.end() if other else line_start


def _twin_name_start(text: str, line_start: int, end: int) -> int:
    return line_start + len(text[line_start:end].rstrip(_NAME_CHARS))


# (bracketed addresses, where the name before one may start, the name search)
_PLAIN_SCAN = (
    _BRACKETED_EMAIL.finditer,
    lambda text, line_start, end: line_start,
    _NAME_AT_END.search,
)
_REGEX_SCAN = (_regex_bracketed_emails, _regex_name_start, _NAME_AT_END.search)
_TWIN_SCAN = (_twin_bracketed_emails, _twin_name_start, _TWIN_NAME_AT_END.search)


class ContextualNameRecognizer(CuePatternRecognizer):
    def __init__(self) -> None:
        super().__init__(
            supported_entity="PERSON",
            name="CorpusforgeContextualName",
            patterns=_PATTERNS,
            global_regex_flags=re.MULTILINE,
            prefilters=_PREFILTERS,
        )
        self.gates = with_tail_gates(self.gates, _TAIL_SCANS)

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None, gates_open=SCAN):
        results = super().analyze(text, entities, nlp_artifacts, regex_flags, gates_open)
        if self.use_prefilters:
            gated = self.gates.open(text) if gates_open is SCAN else gates_open
        else:
            gated = None
        for start, end in tail_spans(_TAIL_SCANS, text, gated):
            if self.validate_result(text[start:end]) is not False:
                results.append(
                    RecognizerResult("PERSON", start, end, 0.7, None, self._metadata.copy())
                )
        if not self.use_prefilters:
            scan = _PLAIN_SCAN
        elif "@" not in text:
            return results
        else:
            scan = _TWIN_SCAN if twin_ready(text) else _REGEX_SCAN
        line_end = -1
        at = text.find("@")
        while at >= 0:  # contact lines: each line with an "@" once, if it has a separator
            if at > line_end:
                line_start = text.rfind("\n", 0, at) + 1
                line_end = text.find("\n", at)
                line_end = len(text) if line_end < 0 else line_end
                head = text[line_start:at]
                if "|" in head or "•" in head or "·" in head:
                    m = _CONTACT_LINE.match(text, line_start, at)
                    if m is not None and self.validate_result(m.group("value")) is not False:
                        start, end = m.span("value")
                        results.append(
                            RecognizerResult("PERSON", start, end, 0.7, None, self._metadata.copy())
                        )
            at = text.find("@", at + 1)
        bracketed_emails, name_start, name_at_end = scan
        for m in bracketed_emails(text):
            end = m.start()
            line_start = max(text.rfind("\n", 0, end) + 1, end - 80)
            before = name_at_end(text, name_start(text, line_start, end), end)
            if before and self.validate_result(before.group("value")) is not False:
                start, end = before.span("value")
                results.append(
                    RecognizerResult("PERSON", start, end, 0.85, None, self._metadata.copy())
                )
        return results

    def validate_result(self, pattern_text: str) -> bool | None:
        # (no words: empty or white space only, without splitting the text into a list)
        if len(pattern_text) > 60 or not pattern_text or pattern_text.isspace():
            return False
        return None
