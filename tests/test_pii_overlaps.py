"""resolve_overlaps' shortcut for disjoint and nested spans gives the general rule's answer."""

import random

from presidio_analyzer import RecognizerResult

from corpusforge.pipeline.pii.detector import (
    PROPAGATED_SCORE,
    _resolve_overlapping,
    resolve_overlaps,
)


def _spans(results):
    return [(r.start, r.end, r.entity_type, r.score) for r in results]


def _random_results(rng, most: int, reach: int, width: int, types: list[str]):
    """Up to `most` results of `types` starting within `reach`, empty and inverted ones too."""
    results = []
    for _ in range(rng.randint(0, most)):
        start = rng.randint(0, reach)
        results.append(
            RecognizerResult(
                rng.choice(types),
                start,
                start + rng.randint(-1, width),
                rng.choice([0.5, 0.6, 0.7, 0.85, 1.0]),
            )
        )
    return results


def test_shortcut_equals_general_rule_on_random_span_sets():
    rng = random.Random(7)
    nested = 0
    for _ in range(20000):
        results = _random_results(rng, 7, 40, 12, ["PERSON", "EMAIL_ADDRESS", "STREET_ADDRESS"])
        got = resolve_overlaps(results)
        assert _spans(got) == _spans(_resolve_overlapping(results))
        nested += any(
            a.start <= b.start and b.end <= a.end and (a.start, a.end) != (b.start, b.end)
            for a in got
            for b in results
            if b.end > b.start
        )
    assert nested > 1000  # the shortcut's own case was exercised


def test_nested_names_keep_the_outer_span_and_the_best_of_equal_ones():
    outer = RecognizerResult("PERSON", 0, 12, 0.6)
    better_equal = RecognizerResult("PERSON", 0, 12, 0.85)
    surname = RecognizerResult("PERSON", 5, 12, 0.6)
    mail = RecognizerResult("EMAIL_ADDRESS", 20, 40, 1.0)
    got = resolve_overlaps([surname, outer, mail, better_equal])
    assert [(r.start, r.end, r.score) for r in got] == [(0, 12, 0.85), (20, 40, 1.0)]


def test_partial_overlap_of_one_type_is_merged():
    got = resolve_overlaps(
        [RecognizerResult("PERSON", 0, 8, 0.6), RecognizerResult("PERSON", 5, 14, 0.7)]
    )
    assert [(r.start, r.end, r.score) for r in got] == [(0, 14, 0.7)]


def test_spans_passed_as_mentions_resolve_like_their_results():
    """Propagated name mentions passed as spans resolve as their results would."""
    rng = random.Random(5)
    for _ in range(20000):
        results = _random_results(rng, 6, 30, 10, ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER"])
        mentions = [(s, s + rng.randint(0, 8)) for s in rng.sample(range(30), rng.randint(0, 4))]
        mentions += rng.sample([(r.start, r.end) for r in results], min(2, len(results)))
        as_results = [RecognizerResult("PERSON", s, e, PROPAGATED_SCORE) for s, e in mentions]
        want = _spans(_resolve_overlapping([*results, *as_results]))
        assert _spans(resolve_overlaps(results, mentions)) == want
        assert _spans(resolve_overlaps([*results, *as_results])) == want
