"""The recognizer contract: what the detector runs, and an adapter for stock presidio recognizers.

A recognizer of this project is a presidio `EntityRecognizer` (presidio's `AnalyzerEngine` can
run it as it is: tests/test_pii_engine.py compares the two) with two additions that let the
detector scan a batch once for all recognizers:

- `gates`: hyperscan expressions (pipeline/pii/gates.py), keyed as the recognizer likes, each
  found in every text where the part it guards can match. The detector compiles the gates of
  all recognizers into one database and scans each text once.
- `analyze(text, entities, nlp_artifacts=None, gates_open=SCAN)`: `gates_open` is what that
  scan found in `text` for this recognizer (key -> end of the first match, in characters), or
  None where the gates cannot decide (run everything), or `SCAN` when called on its own
  (presidio's engine, tests): then the recognizer scans for itself.

Results are `RecognizerResult`s of types in the entity registry
(corpusforge/pipeline/pii_entities.py), with `recognition_metadata` naming the recognizer.
`use_prefilters = False` switches every shortcut off (the plain scan the tests compare with).

`PresidioRecognizer` plugs any stock presidio recognizer in: no gates (it runs on every text)
and no NLP artifacts (the detector's patterns run before and apart from NER), so it suits
pattern and rule recognizers (`PatternRecognizer`, presidio's predefined pattern recognizers, a
custom `EntityRecognizer` that reads the text). docs/pii.md, "Adding a recognizer".
"""

from __future__ import annotations

from collections.abc import Iterable

from presidio_analyzer import EntityRecognizer, RecognizerResult

from corpusforge.core.errors import ConfigError
from corpusforge.pipeline.pii.gates import SCAN, Gates
from corpusforge.pipeline.pii_entities import ENTITIES

NO_GATES = Gates({})


class PiiRecognizer(EntityRecognizer):
    """Base class of the project's recognizers (see the module docstring for the contract)."""

    gates: Gates = NO_GATES
    use_prefilters: bool = True

    def load(self) -> None:  # presidio's hook; ours build everything in __init__
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts=None, gates_open=SCAN
    ) -> list[RecognizerResult]:
        raise NotImplementedError

    def result_metadata(self) -> dict[str, str]:
        """What presidio's own recognizers put in each result's `recognition_metadata` (it
        logs a debug line for a result without); each result needs its own copy."""
        return {
            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
        }


class PresidioRecognizer(PiiRecognizer):
    """A stock presidio `EntityRecognizer` behind the contract: no gates, no NLP artifacts."""

    def __init__(self, recognizer: EntityRecognizer):
        check_entity_types(recognizer.supported_entities, recognizer.name)
        self.recognizer = recognizer
        super().__init__(
            supported_entities=list(recognizer.supported_entities),
            name=recognizer.name,
            supported_language=recognizer.supported_language,
        )

    def analyze(self, text, entities, nlp_artifacts=None, gates_open=SCAN):
        return self.recognizer.analyze(text, entities, nlp_artifacts)


def as_pii_recognizer(recognizer: EntityRecognizer) -> PiiRecognizer:
    """`recognizer` itself where it is one of ours, else behind the adapter."""
    if isinstance(recognizer, PiiRecognizer):
        check_entity_types(recognizer.supported_entities, recognizer.name)
        return recognizer
    if not isinstance(recognizer, EntityRecognizer):
        raise ConfigError(f"not a presidio EntityRecognizer: {type(recognizer).__name__}")
    return PresidioRecognizer(recognizer)


def check_entity_types(types: Iterable[str], name: str) -> None:
    unknown = sorted(set(types) - set(ENTITIES))
    if unknown:
        raise ConfigError(
            f"recognizer {name!r} reports types the entity registry does not know: {unknown} "
            "(add them to corpusforge/pipeline/pii_entities.py)"
        )
