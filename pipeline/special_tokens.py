"""Special tokens shared by the PII stage (placeholders), the tokenizer and fine-tuning.

Every string here is one token in the trained tokenizer, never split or merged.
"""

from corpusforge.pipeline.pii_entities import PLACEHOLDERS

EOT = "<|endoftext|>"
PAD = "<|pad|>"

# Chat / instruction markers used by the tokenizer's chat template.
SYSTEM = "<|system|>"
USER = "<|user|>"
ASSISTANT = "<|assistant|>"
END_OF_TURN = "<|end|>"
CHAT_TOKENS = (SYSTEM, USER, ASSISTANT, END_OF_TURN)

# PII placeholders by entity type (the PII stage's replacement for a detected value), from the
# entity registry, in its order.
PII_PLACEHOLDERS: dict[str, str] = dict(PLACEHOLDERS)

ALL_SPECIAL_TOKENS: tuple[str, ...] = (
    EOT,
    PAD,
    *CHAT_TOKENS,
    *dict.fromkeys(PII_PLACEHOLDERS.values()),
)
