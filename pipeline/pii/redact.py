"""Replacement with presidio-anonymizer: a typed placeholder (the default), a mask, a keyed
hash (HMAC-SHA256 under the secret salt: equal values get equal pseudonyms, and nobody
without the salt can test a guess) or plain removal, chosen per entity type."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from presidio_analyzer import RecognizerResult
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig
from presidio_anonymizer.operators import OperatorType

from pipeline.pii.config import PiiConfig
from pipeline.special_tokens import PII_PLACEHOLDERS


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
        for entity_type, cfg in self.operators.items():
            operator = self.engine.operators_factory.create_operator_class(
                cfg.operator_name, OperatorType.Anonymize
            )
            params = {**cfg.params, "entity_type": entity_type}
            operator.validate(params=params)
            self.apply[entity_type] = (operator, params)

    def redact(self, text: str, results: Sequence[RecognizerResult]) -> str:
        if not results:
            return text
        spans = sorted(results, key=lambda r: (r.start, r.end))
        if any(a.end > b.start for a, b in zip(spans, spans[1:], strict=False)) or any(
            r.entity_type not in self.apply for r in spans
        ):
            return self.engine.anonymize(
                text=text, analyzer_results=list(results), operators=self.operators
            ).text
        return self._splice(text, spans)

    def _splice(self, text: str, spans: Sequence[RecognizerResult]) -> str:
        """AnonymizerEngine's output for disjoint spans, without its per-call conflict
        resolution and operator validation (most of the time of a short document): entities
        of one type separated only by spaces are merged, then each is operated on."""
        merged: list[list] = []
        for r in spans:
            prev = merged[-1] if merged else None
            if prev and prev[2] == r.entity_type and _only_spaces(text, prev[1], r.start):
                prev[1] = r.end
            else:
                merged.append([r.start, r.end, r.entity_type])
        out, pos = [], 0
        for start, end, entity_type in merged:
            operator, params = self.apply[entity_type]
            out.append(text[pos:start])
            out.append(operator.operate(text=text[start:end], params=params))
            pos = end
        out.append(text[pos:])
        return "".join(out)


def _only_spaces(text: str, start: int, end: int) -> bool:
    return end > start and text.count(" ", start, end) == end - start
