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

    def redact(self, text: str, results: Sequence[RecognizerResult]) -> str:
        if not results:
            return text
        return self.engine.anonymize(
            text=text, analyzer_results=list(results), operators=self.operators
        ).text
