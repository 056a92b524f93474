"""PII stage: presidio recognizers (patterns with validation, spaCy NER) and typed placeholders.

Public entry points: `PiiConfig`, `Scrubber` (texts in, scrubbed texts and counts out),
`pii_job` (the stage over document shards; run it with
`corpusforge.pipeline.stage.run_local`), `scrub_shard` (one shard), `scrub_sft_jsonl`
(instruction data) and `review_contexts` (placeholders in context, for spot checks).
"""

from corpusforge.pipeline.pii.lean_import import import_presidio_lean

import_presidio_lean()  # before any module of the stage imports presidio

from corpusforge.pipeline.pii.config import PiiConfig  # noqa: E402
from corpusforge.pipeline.pii.scrub import Scrubbed, Scrubber  # noqa: E402
from corpusforge.pipeline.pii.stage import pii_job, scrub_sft_jsonl, scrub_shard  # noqa: E402

__all__ = [
    "PiiConfig",
    "Scrubbed",
    "Scrubber",
    "pii_job",
    "scrub_sft_jsonl",
    "scrub_shard",
]
