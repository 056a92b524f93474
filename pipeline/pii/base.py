"""A presidio PatternRecognizer whose patterns may carry context around the entity.

presidio reports a pattern's whole match, so cue words ("password=", "From:") would have to be
variable-length lookbehinds, which the regex engine tries at every position (0.3-3 MB/s).
Here a pattern may name a group `value`: the match starts at the cue (fast literal scan) and
only the group is reported. Validation works as in presidio: True raises the score to 1.0,
False discards the match, None keeps the pattern's score.
"""

from __future__ import annotations

import regex as re
from presidio_analyzer import PatternRecognizer, RecognizerResult


class CuePatternRecognizer(PatternRecognizer):
    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        entity = self.supported_entities[0]
        results = []
        for pattern in self.patterns:
            compiled = pattern.compiled_regex
            if compiled is None or pattern.compiled_with_flags != self.global_regex_flags:
                compiled = pattern.compiled_regex = re.compile(
                    pattern.regex, flags=self.global_regex_flags
                )
                pattern.compiled_with_flags = self.global_regex_flags
            has_value = "value" in compiled.groupindex
            for m in compiled.finditer(text):
                start, end = m.span("value") if has_value else m.span()
                if end <= start:
                    continue
                verdict = self.validate_result(text[start:end])
                if verdict is False:
                    continue
                score = 1.0 if verdict else pattern.score
                results.append(RecognizerResult(entity, start, end, score))
        return results
