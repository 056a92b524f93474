"""Each published filter rule on hand-written text at, just below and just above its threshold."""

from __future__ import annotations

import pytest

from corpusforge.pipeline.filter.rules import (
    C4Config,
    C4Quality,
    FineWebConfig,
    FineWebQuality,
    GopherQuality,
    GopherQualityConfig,
    GopherRepetition,
    GopherRepetitionConfig,
)
from corpusforge.pipeline.filter.text import TextView, split_words


def check(rule, text: str):
    return rule.apply(TextView(text)).removal


# Ten distinct words, none a stop word, mean length 5; the stop words come separately.
WORDS = "apple river stone cloud green table music light paper house".split()


def words(n: int, offset: int = 0) -> str:
    return " ".join(f"{WORDS[(i + offset) % 10]}{i}" for i in range(n))


# ---- word splitting ----------------------------------------------------------------------------


def test_words_split_like_spacy_english():
    assert split_words("Don't stop (now), e.g. at 3.5 km... U.S. it's") == [
        "Do",
        "n't",
        "stop",
        "(",
        "now",
        ")",
        ",",
        "e.g.",
        "at",
        "3.5",
        "km",
        "...",
        "U.S.",
        "it",
        "'s",
    ]
    assert split_words("see https://example.org/a.") == ["see", "https://example.org/a", "."]
    assert split_words("e-mail and/or J. Smith") == [
        "e",
        "-",
        "mail",
        "and",
        "/",
        "or",
        "J.",
        "Smith",
    ]


# ---- Gopher quality ------------------------------------------------------------------------------


def gopher(**changes):
    off = {k: None for k in GopherQualityConfig.model_fields if k != "stop_words"}
    return GopherQuality(GopherQualityConfig(**{**off, **changes}))


def test_gopher_min_words_at_threshold():
    rule = gopher(min_doc_words=50)
    assert check(rule, words(50)) is None
    removal = check(rule, words(49))
    assert (removal.filter, removal.rule, removal.value, removal.threshold) == (
        "gopher_quality",
        "min_doc_words",
        49,
        50,
    )
    # punctuation marks are not words for the count
    assert check(rule, words(49) + " , . !") is not None


def test_gopher_max_words_at_threshold():
    rule = gopher(max_doc_words=100)
    assert check(rule, words(100)) is None
    assert check(rule, words(101)).rule == "max_doc_words"


def test_gopher_mean_word_length_bounds():
    rule = gopher(min_avg_word_length=3, max_avg_word_length=10)
    assert check(rule, "abc " * 20) is None  # mean exactly 3
    assert check(rule, "abc ab " * 20).rule == "min_avg_word_length"  # 2.5
    assert check(rule, "abcdefghij " * 20) is None  # exactly 10
    assert check(rule, "abcdefghijk abcdefghij " * 10).rule == "max_avg_word_length"  # 10.5


def test_gopher_hash_and_ellipsis_ratio():
    rule = gopher(max_symbol_word_ratio=0.1)
    base = words(90)  # 90 words; each '#' adds a word too ('#' is its own token)
    assert check(rule, base + " #" * 10) is None  # 10 / 100 = 0.1, not above
    assert check(rule, base + " #" * 11).rule == "hash_word_ratio"  # 11 / 101
    assert check(rule, words(90) + " x..." * 9) is None  # 9 / 108
    assert check(rule, words(40) + " x..." * 9).rule == "ellipsis_word_ratio"  # 9 / 58


def test_gopher_bullet_and_ellipsis_lines():
    rule = gopher(max_bullet_lines_ratio=0.9, max_ellipsis_lines_ratio=0.3)
    bullets = "\n".join(["• item one"] * 9 + ["plain line"])
    assert check(rule, bullets) is None  # 9/10 = 0.9
    assert check(rule, "\n".join(["- item"] * 10)).rule == "bullet_lines_ratio"
    ellipsis = "\n".join(["and then…"] * 3 + ["done."] * 7)
    assert check(rule, ellipsis) is None  # 3/10
    ellipsis = "\n".join(["and then..."] * 4 + ["done."] * 6)
    assert check(rule, ellipsis).rule == "ellipsis_lines_ratio"


def test_gopher_alpha_words_ratio():
    rule = gopher(min_alpha_words_ratio=0.8)
    assert check(rule, words(8) + " 1 2") is None  # 8/10
    removal = check(rule, words(7) + " 1 2 3")
    assert removal.rule == "alpha_words_ratio" and removal.value == pytest.approx(0.7, abs=1e-6)


def test_gopher_stop_words():
    rule = gopher(min_stop_words=2)
    assert check(rule, words(20) + " the of") is None
    assert check(rule, words(20) + " the the The").rule == "stop_words"  # case-sensitive, distinct


def test_gopher_defaults_keep_ordinary_prose():
    prose = (
        "The river ran past the old mill, and the children followed it to the sea. "
        "They had been told that the water was cold, but they went in with their shoes on. "
    ) * 3
    assert check(GopherQuality(), prose) is None
    assert check(GopherQuality(), "Buy now! Click here.").rule == "min_doc_words"


# ---- Gopher repetition ---------------------------------------------------------------------------


def repetition(**changes):
    off = {
        "max_dup_line_frac": None,
        "max_dup_para_frac": None,
        "max_dup_line_char_frac": None,
        "max_dup_para_char_frac": None,
        "top_ngram_char_frac": {},
        "dup_ngram_char_frac": {},
    }
    return GopherRepetition(GopherRepetitionConfig(**{**off, **changes}))


def test_repetition_duplicate_lines():
    rule = repetition(max_dup_line_frac=0.3)
    lines = [f"line {i}" for i in range(7)] + ["line 0"] * 3  # 3 of 10 are duplicates
    assert check(rule, "\n".join(lines)) is None
    lines = [f"line {i}" for i in range(6)] + ["line 0"] * 4
    removal = check(rule, "\n".join(lines))
    assert (removal.rule, removal.value) == ("dup_line_frac", 0.4)


def test_repetition_duplicate_paragraph_characters():
    rule = repetition(max_dup_para_char_frac=0.2)
    unique = "x" * 79
    para = "y" * 19
    text = f"{unique}\n\n{para}\n\n{para}"  # 19 duplicated chars of 79+19+19+4 = 121
    assert check(rule, text) is None
    text = f"{'x' * 53}\n\n{para}\n\n{para}"  # 19 / 95 = 0.2, not above
    assert check(rule, text) is None
    text = f"{'x' * 52}\n\n{para}\n\n{para}"  # 19 / 94
    assert check(rule, text).rule == "dup_para_char_frac"


def test_repetition_top_ngram():
    rule = repetition(top_ngram_char_frac={2: 0.2})
    # "aa bb" (5 chars) three times in 100 characters: 15% -> kept; add two more -> 25% removed
    filler = " ".join(f"w{i:02d}" for i in range(20))  # 20 distinct 3-char words, 79 chars
    text = "aa bb " * 3 + filler
    assert check(rule, text) is None
    text = "aa bb " * 5 + filler[:69]
    removal = check(rule, text)
    assert removal.rule == "top_2_gram_char_frac" and removal.value == pytest.approx(
        25 / 99, abs=1e-6
    )


def test_repetition_duplicated_ngrams_skip_overlaps():
    rule = repetition(dup_ngram_char_frac={5: 0.15})
    unique = " ".join(f"u{i:03d}" for i in range(40))  # 40 distinct words, 199 chars
    phrase = "one two three four five"  # 19 chars without spaces
    text = f"{phrase} {unique} {phrase}"
    # the second copy is duplicated: 19 characters out of 243 (7.8%)
    assert check(rule, text) is None
    text = f"{phrase} {phrase} {phrase} {unique[:100]}"
    removal = check(rule, text)
    assert removal.rule == "dup_5_gram_char_frac"
    assert removal.value == pytest.approx(38 / len(text), abs=1e-6)


def test_repetition_defaults_on_a_repeated_page():
    page = "\n".join(["Home | About | Contact"] * 10 + ["A short story about a dog."])
    assert check(GopherRepetition(), page).rule == "dup_para_frac" or check(
        GopherRepetition(), page
    ).rule.startswith("dup_line")


# ---- C4 ------------------------------------------------------------------------------------


def c4(**changes):
    return C4Quality(C4Config(**{"min_num_sentences": None, **changes}))


def test_c4_removes_lines_as_c4_defines_them():
    text = "\n".join(
        [
            "Menu",  # no terminal punctuation
            "This line has enough words.",
            "Too short.",  # 2 words
            "Please enable JavaScript to view this page.",
            "We use cookies to improve your experience.",
            "Read our privacy policy before you go.",
            "And then it went on...",  # ellipsis is not terminal
            "Another good line is here [1].",  # citation removed, line kept
            "  Indented lines are stripped!  ",
        ]
    )
    out = c4().apply(TextView(text))
    assert out.removal is None
    assert out.text == (
        "This line has enough words.\nAnother good line is here .\nIndented lines are stripped!"
    )
    assert out.lines_removed == {
        "no_terminal_punct": 2,
        "too_few_words": 1,
        "javascript": 1,
        "policy": 2,
    }


def test_c4_words_per_line_threshold():
    rule = c4(min_words_per_line=3)
    assert rule.apply(TextView("Three words here.")).text is None  # unchanged
    assert rule.apply(TextView("Two words.\nThree words here.")).text == "Three words here."


def test_c4_long_word_line():
    rule = c4(max_word_length=10)
    out = rule.apply(TextView("A line with abcdefghij in it.\nA line with abcdefghijk in it."))
    assert out.text == "A line with abcdefghij in it." and out.lines_removed["too_long_word"] == 1


def test_c4_page_rules():
    assert check(c4(), "Lorem ipsum dolor sit amet.").rule == "lorem_ipsum"
    assert check(c4(), "The function f(x) { return 1 } is fine.").rule == "curly_bracket"
    # a curly bracket in a line already removed does not count
    assert check(c4(), "var x = {}\nThis is a normal sentence.") is None


def test_c4_minimum_sentences():
    rule = c4(min_num_sentences=5)
    five = "One is here. Two is here. Three is here.\nFour is here. Five is here."
    assert check(rule, five) is None
    removal = check(rule, "One is here. Two is here. Three is here.\nFour is here.")
    assert (removal.rule, removal.value, removal.threshold) == ("min_num_sentences", 4, 5)


# ---- FineWeb -------------------------------------------------------------------------------


def fineweb(**changes):
    off = {
        "min_line_punct_ratio": None,
        "max_short_line_ratio": None,
        "max_dup_line_char_ratio": None,
        "max_new_line_ratio": None,
    }
    return FineWebQuality(FineWebConfig(**{**off, **changes}))


LONG = "a line that is certainly longer than thirty characters"


def test_fineweb_line_punctuation_ratio():
    rule = fineweb(min_line_punct_ratio=0.12)
    lines = [f"{LONG} {i}" for i in range(22)]
    ok = [f"{LONG} {i}." for i in range(3)] + lines  # 3/25 = 0.12, not below
    assert check(rule, "\n".join(ok)) is None
    bad = [f"{LONG} {i}." for i in range(2)] + lines  # 2/24
    assert check(rule, "\n".join(bad)).rule == "line_punct_ratio"
    assert check(fineweb(min_line_punct_ratio=0.12, line_punct_exclude_zero=True), LONG) is None
    assert check(rule, f"{LONG}。") is None  # any Unicode sentence terminal


def test_fineweb_short_lines():
    rule = fineweb(max_short_line_ratio=0.67)
    short = "x" * 30  # 30 characters is short
    assert check(rule, "\n".join([short] * 2 + [LONG])) is None  # 2/3 = 0.667
    assert check(rule, "\n".join([short] * 3 + [LONG])).rule == "short_line_ratio"


def test_fineweb_duplicated_line_characters():
    rule = fineweb(max_dup_line_char_ratio=0.01)
    body = "y" * 990
    assert check(rule, f"{body}\nab\nab") is None  # 2 / 994 chars
    removal = check(rule, f"{'y' * 480}\nabcdef\nabcdef")
    assert removal.rule == "dup_line_char_ratio" and removal.value == pytest.approx(
        6 / 492, abs=1e-6
    )


def test_fineweb_list_ratio():
    rule = fineweb(max_new_line_ratio=0.3)
    assert check(rule, "\n".join(["one two three"] * 10)) is None  # 9 newlines / 30 words
    assert check(rule, "\n".join(["one two"] * 10)).rule == "new_line_ratio"


# ---- language ---------------------------------------------------------------------------------

ENGLISH = "The library is closed on Sundays, but the reading room upstairs stays open all week."
GERMAN = "Die Bibliothek ist sonntags geschlossen, aber der Lesesaal oben ist immer offen."


def test_language_confidence_at_and_around_the_threshold():
    from corpusforge.pipeline.filter import DocumentFilter, FilterConfig

    policy = {"web": ["language"]}
    mixed = f"{ENGLISH} {ENGLISH}\n{GERMAN}"
    lang, score = DocumentFilter().identify(mixed)
    assert lang == "en" and 0.3 < score < 0.95  # a share of the text, not a certainty

    at = DocumentFilter(FilterConfig(language={"min_confidence": score}, policy=policy))
    decision = at.apply(mixed, "web")
    assert decision.kept and (decision.language, decision.confidence) == ("en", score)
    above = DocumentFilter(
        FilterConfig(language={"min_confidence": min(score + 0.01, 1.0)}, policy=policy)
    )
    removal = above.apply(mixed, "web").removal
    assert (removal.filter, removal.rule, removal.value, removal.detail) == (
        "language",
        "min_confidence",
        score,
        "en",
    )


def test_language_keep_list_and_undetermined_text():
    from corpusforge.pipeline.filter import DocumentFilter, FilterConfig

    policy = {"web": ["language"]}
    english_only = DocumentFilter(FilterConfig(policy=policy))
    removal = english_only.apply(GERMAN * 3, "web").removal
    assert (removal.rule, removal.detail) == ("not_kept", "de")
    both = DocumentFilter(FilterConfig(language={"keep_languages": ["en", "de"]}, policy=policy))
    assert both.apply(GERMAN * 3, "web").kept
    anything = DocumentFilter(FilterConfig(language={"keep_languages": []}, policy=policy))
    assert anything.apply(GERMAN * 3, "web").kept
    assert english_only.apply("1234 5678 %%%% ----", "web").removal.rule in (
        "undetermined",
        "not_kept",
        "min_confidence",
    )
