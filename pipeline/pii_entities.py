"""The PII entity registry: every entity type the project knows, in one table.

Each type has its placeholder (the PII stage's replacement, one special token of the
tokenizer), its risk class and the NER labels that mean it. Everything else is derived from
here: the config defaults (`DEFAULT_ENTITIES`, `LOW_RISK_ENTITIES`), the placeholders
(`corpusforge.pipeline.special_tokens.PII_PLACEHOLDERS` and so the tokenizer's special tokens),
the spaCy label mapping and entity list of NER (`NER_LABELS`, `NER_ENTITIES`) and the types
the NER view blanks out (`NER_SKIPPED`). Adding a type is one `EntityType` line here plus the
recognizer that reports it (docs/pii.md, "Adding a recognizer").

This module sits beside `pipeline/pii/`, not in it, and imports nothing: the tokenizer reads the
placeholders without importing presidio. The order of `ENTITY_TYPES` is the order of the
tokenizer's special tokens (their ids) and of the default entity lists: append, never reorder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# high: removed by default. low: low-risk, high-noise types that ROOTS and StarCoder keep
# (kept unless a config asks for them). reserved: a placeholder no recognizer reports.
Risk = Literal["high", "low", "reserved"]


@dataclass(frozen=True)
class EntityType:
    name: str  # presidio's entity type
    placeholder: str  # the replacement text; one special token of the tokenizer
    risk: Risk
    # NER labels (spaCy's, and presidio's defaults for other models) reported as this type;
    # a type with labels is one NER can find.
    ner_labels: tuple[str, ...] = ()
    # Whether NER reads the spans of this type. False: the NER view replaces them by one space
    # (pipeline/pii/ner_view.py): they carry no name and no context for one, and NER costs the
    # same for every token it reads. Street addresses stay: a name above an address line is a
    # name to the model.
    ner_reads_spans: bool = True


ENTITY_TYPES: tuple[EntityType, ...] = (
    EntityType("PERSON", "<|person|>", "high", ("PERSON", "PER", "PATIENT", "STAFF", "HCW")),
    EntityType("EMAIL_ADDRESS", "<|email|>", "high", ner_reads_spans=False),
    EntityType("PHONE_NUMBER", "<|phone|>", "high", ner_reads_spans=False),
    EntityType("IP_ADDRESS", "<|ip|>", "high", ner_reads_spans=False),
    EntityType("CREDIT_CARD", "<|credit_card|>", "high", ner_reads_spans=False),
    EntityType("US_SSN", "<|ssn|>", "high", ner_reads_spans=False),
    EntityType("IBAN_CODE", "<|iban|>", "high", ner_reads_spans=False),
    EntityType("STREET_ADDRESS", "<|address|>", "high"),
    EntityType("SECRET", "<|secret|>", "high", ner_reads_spans=False),
    EntityType("URL", "<|url|>", "low"),
    EntityType("DATE_TIME", "<|date|>", "low", ("DATE", "TIME")),
    EntityType("ORGANIZATION", "<|org|>", "low", ("ORG", "HOSP", "PATORG", "HOSPITAL")),
    EntityType("LOCATION", "<|location|>", "low", ("LOC", "LOCATION", "GPE")),
    EntityType("PSEUDONYM", "<|pseudonym|>", "reserved"),
)

ENTITIES: dict[str, EntityType] = {e.name: e for e in ENTITY_TYPES}
PLACEHOLDERS: dict[str, str] = {e.name: e.placeholder for e in ENTITY_TYPES}
# The config's defaults: types removed, and types kept even when listed.
DEFAULT_ENTITIES: tuple[str, ...] = tuple(e.name for e in ENTITY_TYPES if e.risk == "high")
LOW_RISK_ENTITIES: tuple[str, ...] = tuple(e.name for e in ENTITY_TYPES if e.risk == "low")
# NER: the label mapping handed to presidio's NerModelConfiguration, and the types NER finds.
NER_LABELS: dict[str, str] = {label: e.name for e in ENTITY_TYPES for label in e.ner_labels}
NER_ENTITIES: tuple[str, ...] = tuple(e.name for e in ENTITY_TYPES if e.ner_labels)
NER_SKIPPED: frozenset[str] = frozenset(e.name for e in ENTITY_TYPES if not e.ner_reads_spans)


def _check(types: tuple[EntityType, ...]) -> None:
    names = [e.name for e in types]
    placeholders = [e.placeholder for e in types]
    labels = [label for e in types for label in e.ner_labels]
    for what, values in (("name", names), ("placeholder", placeholders), ("NER label", labels)):
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f"entity registry: repeated {what}s {repeated}")


_check(ENTITY_TYPES)
