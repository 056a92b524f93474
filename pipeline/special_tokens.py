"""Special tokens shared by the PII stage (placeholders), the tokenizer and fine-tuning.

Every string here is one token in the trained tokenizer, never split or merged.
"""

EOT = "<|endoftext|>"
PAD = "<|pad|>"

# Chat / instruction markers used by the tokenizer's chat template.
SYSTEM = "<|system|>"
USER = "<|user|>"
ASSISTANT = "<|assistant|>"
END_OF_TURN = "<|end|>"
CHAT_TOKENS = (SYSTEM, USER, ASSISTANT, END_OF_TURN)

# PII placeholders by entity type (the PII stage's replacement for a detected value).
PII_PLACEHOLDERS: dict[str, str] = {
    "PERSON": "<|person|>",
    "EMAIL_ADDRESS": "<|email|>",
    "PHONE_NUMBER": "<|phone|>",
    "IP_ADDRESS": "<|ip|>",
    "CREDIT_CARD": "<|credit_card|>",
    "US_SSN": "<|ssn|>",
    "IBAN_CODE": "<|iban|>",
    "STREET_ADDRESS": "<|address|>",
    "SECRET": "<|secret|>",
    "URL": "<|url|>",
    "DATE_TIME": "<|date|>",
    "ORGANIZATION": "<|org|>",
    "LOCATION": "<|location|>",
    "PSEUDONYM": "<|pseudonym|>",
}

ALL_SPECIAL_TOKENS: tuple[str, ...] = (
    EOT,
    PAD,
    *CHAT_TOKENS,
    *dict.fromkeys(PII_PLACEHOLDERS.values()),
)
