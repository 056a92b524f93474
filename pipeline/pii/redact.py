"""Replacement with presidio-anonymizer: a typed placeholder (the default), a mask, a keyed
hash (HMAC-SHA256 under the secret salt: equal values get equal pseudonyms, and nobody
without the salt can test a guess) or plain removal, chosen per entity type."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from operator import attrgetter

from presidio_analyzer import RecognizerResult
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig
from presidio_anonymizer.operators import OperatorType, Redact, Replace

from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.special_tokens import PII_PLACEHOLDERS


def _keyed_hash(placeholder: str, salt: bytes):
    def pseudonym(value: str) -> str:
        digest = hmac.new(salt, value.strip().casefold().encode(), hashlib.sha256).hexdigest()
        return f"{placeholder}{digest[:12]}"

    return pseudonym


class Redactor:
    def __init__(self, config: PiiConfig):
        salt = config.salt_bytes()
        self.engine = AnonymizerEngine()
        self.operators: dict[str, OperatorConfig] = {}
        for entity_type, placeholder in PII_PLACEHOLDERS.items():
            op = config.operator_for(entity_type)
            if op == "replace":
                cfg = OperatorConfig("replace", {"new_value": placeholder})
            elif op == "mask":
                cfg = OperatorConfig(
                    "mask", {"masking_char": "*", "chars_to_mask": 1_000_000, "from_end": False}
                )
            elif op == "hash":
                cfg = OperatorConfig("custom", {"lambda": _keyed_hash(placeholder, salt)})
            else:
                cfg = OperatorConfig("redact", {})
            self.operators[entity_type] = cfg
        # The same presidio operator objects, validated once instead of once per entity.
        self.apply: dict[str, tuple] = {}
        # What "replace" and "redact" put in place of any value, asked of presidio once: the
        # splice looks it up instead of calling the operator per entity.
        self.constant: dict[str, str] = {}
        for entity_type, cfg in self.operators.items():
            operator = self.engine.operators_factory.create_operator_class(
                cfg.operator_name, OperatorType.Anonymize
            )
            params = {**cfg.params, "entity_type": entity_type}
            operator.validate(params=params)
            self.apply[entity_type] = (operator, params)
            if type(operator) in (Replace, Redact):  # presidio's own: they ignore the value
                self.constant[entity_type] = operator.operate(text="", params=params)

    def redact(self, text: str, results: Sequence[RecognizerResult]) -> str:
        if not results:
            return text
        spans = sorted(results, key=_START_END)
        spliced = self._splice(text, spans)
        if spliced is None:  # overlapping spans or a type without an operator here
            return self.engine.anonymize(
                text=text, analyzer_results=list(results), operators=self.operators
            ).text
        return spliced

    def _splice(self, text: str, spans: Sequence[RecognizerResult]) -> str | None:
        """AnonymizerEngine's output for disjoint spans (sorted), without its per-call conflict
        resolution and operator validation (most of the time of a short document): entities
        of one type separated only by spaces are merged, then each is operated on. None where
        spans overlap or a type has no operator: the engine's case."""
        out: list[str] = []
        pos = 0  # text before it is done
        start = end = 0
        entity_type = None  # of the entity from `start` to `end`, not yet operated on
        for r in spans:
            if entity_type is not None:
                if r.start < end:
                    return None
                if r.entity_type == entity_type and _only_spaces(text, end, r.start):
                    end = r.end
                    continue
                out.append(text[pos:start])
                out.append(self._operate(text, start, end, entity_type))
                pos = end
            entity_type = r.entity_type
            if entity_type not in self.apply:
                return None
            start, end = r.start, r.end
        out.append(text[pos:start])
        out.append(self._operate(text, start, end, entity_type))
        out.append(text[end:])
        return "".join(out)

    def _operate(self, text: str, start: int, end: int, entity_type: str) -> str:
        value = self.constant.get(entity_type)
        if value is None:
            operator, params = self.apply[entity_type]
            value = operator.operate(text=text[start:end], params=params)
        return value


_START_END = attrgetter("start", "end")


def _only_spaces(text: str, start: int, end: int) -> bool:
    return end > start and text.count(" ", start, end) == end - start
