"""PII stage: presidio recognizers (patterns with validation, spaCy NER) and typed placeholders.

Public entry points: `PiiConfig`, `Scrubber` (texts in, scrubbed texts and counts out),
`scrub_shard` / `assemble` / `scrub_documents` (document shards), `scrub_sft_jsonl`
(instruction data) and `review_contexts` (placeholders in context, for spot checks).
"""

from pipeline.pii.config import PiiConfig
from pipeline.pii.scrub import Scrubbed, Scrubber
from pipeline.pii.stage import assemble, scrub_documents, scrub_sft_jsonl, scrub_shard

__all__ = [
    "PiiConfig",
    "Scrubbed",
    "Scrubber",
    "assemble",
    "scrub_documents",
    "scrub_sft_jsonl",
    "scrub_shard",
]
