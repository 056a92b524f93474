# ruff: noqa: E501 - test vectors read better unwrapped
"""Each recognizer finds its type and leaves the hard negatives alone (fast mode: no model)."""

from __future__ import annotations

import pytest
from _pii_helpers import fast_scrubber, found
from pydantic import SecretStr

from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.scrub import Scrubber


@pytest.fixture(scope="module")
def fast() -> Scrubber:
    return fast_scrubber()


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("write to jane.doe@example.co.uk today", "EMAIL_ADDRESS", "jane.doe@example.co.uk"),
        ("call (415) 555-2671 now", "PHONE_NUMBER", "(415) 555-2671"),
        ("call 415.555.2671 now", "PHONE_NUMBER", "415.555.2671"),
        ("ring +44 20 7946 0958 now", "PHONE_NUMBER", "+44 20 7946 0958"),
        ("ruf an: +49 30 901820", "PHONE_NUMBER", "+49 30 901820"),
        ("ring 0044 20 7946 0958 now", "PHONE_NUMBER", "0044 20 7946 0958"),
        ("appelez le 0033 1 42 68 53 00", "PHONE_NUMBER", "0033 1 42 68 53 00"),
        ("from 203.0.113.42 at noon", "IP_ADDRESS", "203.0.113.42"),
        ("from 2001:db8:85a3::8a2e:370:7334 ok", "IP_ADDRESS", "2001:db8:85a3::8a2e:370:7334"),
        ("card 4111 1111 1111 1111 expires", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("amex 378282246310005.", "CREDIT_CARD", "378282246310005"),
        ("SSN 219-09-9999 on file", "US_SSN", "219-09-9999"),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
        ("iban GB82WEST12345698765432.", "IBAN_CODE", "GB82WEST12345698765432"),
        ("key AKIAIOSFODNN7EXAMPLE in env", "SECRET", "AKIAIOSFODNN7EXAMPLE"),
        (
            "t=ghp_16C7e42F292c6912E7710c838347Ae178B4a ok",
            "SECRET",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        ),
        (
            "OPENAI_API_KEY=sk-proj-abcdefghijklmnop1234567890",
            "SECRET",
            "sk-proj-abcdefghijklmnop1234567890",
        ),
        (
            "slack xoxb-123456789012-abcdefghijklmnopqrstuvwx done",
            "SECRET",
            "xoxb-123456789012-abcdefghijklmnopqrstuvwx",
        ),
        (
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "SECRET",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ),
        ("db = postgres://admin:s3cr3tPass@db.local:5432/x", "SECRET", "s3cr3tPass"),
        ('password = "Tr0ub4dor&3"', "SECRET", "Tr0ub4dor&3"),
        ("PASSWD: hunter22!", "SECRET", "hunter22!"),
        (
            "I live at 1600 Pennsylvania Ave NW, Washington, DC 20500 now",
            "STREET_ADDRESS",
            "1600 Pennsylvania Ave NW, Washington, DC 20500",
        ),
        (
            "Office: 221B Baker Street, London NW1 6XE.",
            "STREET_ADDRESS",
            "221B Baker Street, London NW1 6XE",
        ),
        ("Hauptstraße 5, 10115 Berlin", "STREET_ADDRESS", "Hauptstraße 5, 10115 Berlin"),
        ("From: jane doe <jd@example.org>", "PERSON", "jane doe"),
        ("Signed-off-by: ALICE WONG <alice@kernel.org>", "PERSON", "ALICE WONG"),
        (" -- Jean-Luc Picard <jl@example.org>  Tue", "PERSON", "Jean-Luc Picard"),
        ("Thanks,\nMaria Garcia\n", "PERSON", "Maria Garcia"),
        ("hi bob,\nthe build broke", "PERSON", "bob"),
        ("seen by Dr. Amara Okafor today", "PERSON", "Amara Okafor"),
        ("my name is li wei and I", "PERSON", "li wei"),
    ],
)
def test_recognizer_finds(fast, text, entity, value):
    assert (entity, value) in found(fast, text)


def test_private_key_block_is_one_span(fast):
    block = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQUJD\n-----END OPENSSH PRIVATE KEY-----"
    assert found(fast, f"key:\n{block}\nend") == [("SECRET", block)]


@pytest.mark.parametrize(
    "text",
    [
        "released version 1.2.3.4 today",
        "v2.10.1 and 10.0.19041.1",
        "ISBN 978-0-306-40615-7",
        "ISBN-10 0-306-40615-2",
        "see doi:10.1000/182 and https://doi.org/10.1038/nphys1170",
        "meeting on 2023-01-15 and 12/31/2024 at 12:30:45",
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "commit 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",
        "id 123e4567-e89b-12d3-a456-426614174000",
        "@app.route('/users')\n@pytest.fixture\ndef f(): pass",
        "x = 3.14159 * r ** 2 + 1.23e-4; 2 + 2 = 4; 1024 * 768",
        "Case No. 2023-CV-01234 and ticket #4521889203",
        "SKU 4521-889-203, part no. 555-123-4567-1",
        "range (2015-2023) and 0.967677",
        "card 1234 5678 9012 3456 fails Luhn",
        "iban-like DE00 1234 5678 9012 3456 78 fails the checksum",
        "SSN 000-12-3456 and 666-12-3456 are never issued",
        "ip-like 999.1.1.1 and time 12:30:45",
        "std::vector<int> a::b",
        'password = os.environ["DB_PASSWORD"]',
        "password: ${DB_PASSWORD}",
        "password = get_password()",
    ],
)
def test_hard_negative_untouched(fast, text):
    assert found(fast, text) == []
    assert fast.scrub([text])[0].text == text


def test_placeholders_are_the_shared_special_tokens(fast):
    from corpusforge.pipeline.special_tokens import PII_PLACEHOLDERS

    out = fast.scrub(["mail a@example.com, ip 203.0.113.9"])[0]
    assert (
        out.text == f"mail {PII_PLACEHOLDERS['EMAIL_ADDRESS']}, ip {PII_PLACEHOLDERS['IP_ADDRESS']}"
    )
    assert out.counts == {"EMAIL_ADDRESS": 1, "IP_ADDRESS": 1}


def test_operators_mask_redact_and_keyed_hash(monkeypatch):
    monkeypatch.setenv("CORPUSFORGE_PII_SALT", "test-salt-not-secret")
    cfg = PiiConfig(
        mode="fast",
        operators={"EMAIL_ADDRESS": "hash", "IP_ADDRESS": "mask", "PHONE_NUMBER": "redact"},
    )
    s = Scrubber(cfg)
    a, b, c = (r.text for r in s.scrub(["x a@example.com y", "z a@example.com", "b@example.com"]))
    pseudo = a.split()[1]
    assert pseudo.startswith("<|email|>") and "a@example.com" not in a
    assert b.split()[1] == pseudo  # equal values, equal pseudonyms
    assert c != pseudo
    assert (
        s.scrub(["ip 203.0.113.9 tel (415) 555-2671"])[0].text
        == "ip " + "*" * len("203.0.113.9") + " tel "
    )
    other = Scrubber(cfg.model_copy(update={"salt": SecretStr("another-salt")}))
    assert other.scrub(["x a@example.com y"])[0].text != a  # the salt keys the hash


def test_hash_without_salt_is_a_config_error(monkeypatch):
    from corpusforge.core.errors import ConfigError

    monkeypatch.delenv("CORPUSFORGE_PII_SALT", raising=False)
    with pytest.raises(ConfigError):
        Scrubber(PiiConfig(mode="fast", default_operator="hash"))


def test_salt_never_in_config_dump():
    cfg = PiiConfig(salt="very-secret-salt-value")
    assert "very-secret-salt-value" not in str(cfg.fingerprint())
    assert "very-secret-salt-value" not in repr(cfg)


def test_low_risk_types_kept_by_default_and_configurable(fast):
    text = "see https://example.com/page on 2024-03-01"
    assert fast.scrub([text])[0].text == text


def test_density_policy_drops_document():
    s = Scrubber(PiiConfig(mode="fast", drop_entities_per_1000_chars=10, drop_min_entities=3))
    dense = " ".join(f"u{i}@example.com" for i in range(10))
    sparse = "contact u1@example.com " + "lorem ipsum " * 100
    a, b = s.scrub([dense, sparse])
    assert a.dropped and a.text == "" and a.counts["EMAIL_ADDRESS"] == 10
    assert not b.dropped and "<|email|>" in b.text
