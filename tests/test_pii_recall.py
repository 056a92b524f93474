# ruff: noqa: E501 - test vectors read better unwrapped
"""Recall rules for text the project did not write (issue 16): card networks, labelled SSNs,
phone numbers in phone context, and the hard negatives next to each (fast mode: no model).
Every string here was written for these tests."""

from __future__ import annotations

import pytest
from _pii_helpers import fast_scrubber, found

from corpusforge.pipeline.pii.scrub import Scrubber


@pytest.fixture(scope="module")
def fast() -> Scrubber:
    return fast_scrubber()


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        # Mastercard's 2-series, Mir, JCB, Maestro: Luhn-valid numbers of our own
        ("charge card=2223003122003222 failed", "CREDIT_CARD", "2223003122003222"),
        ("paid with 2720-9900-0000-0007 yesterday", "CREDIT_CARD", "2720-9900-0000-0007"),
        ("JCB 3566 0020 2036 0505 on file", "CREDIT_CARD", "3566 0020 2036 0505"),
        ("maestro 6759 6498 2643 8453", "CREDIT_CARD", "6759 6498 2643 8453"),
        # SSNs after their label, with or without separators
        ("audit: applicant kim, ssn=219099999", "US_SSN", "219099999"),
        ("Her social security number, 219 09 9999, was on the form", "US_SSN", "219 09 9999"),
        ("the SSN is 219099999.", "US_SSN", "219099999"),
        # phones the numbering plan refuses, in phone context
        ("Tel: 277-123-4567", "PHONE_NUMBER", "277-123-4567"),
        ("Phone: 2771234567", "PHONE_NUMBER", "2771234567"),
        ("please call me at 0171 23 45 67 after six", "PHONE_NUMBER", "0171 23 45 67"),
        ("You can reach her at 44 3312-7788 most days", "PHONE_NUMBER", "44 3312-7788"),
        ("T: 31 455 20 17", "PHONE_NUMBER", "31 455 20 17"),
        ("her new number is 612 448 901, not the old one", "PHONE_NUMBER", "612 448 901"),
        ("Livia Ferro\n1234567890 (cell)", "PHONE_NUMBER", "1234567890"),
        ("l.ferro@example.org | 802 117 433 | Genoa", "PHONE_NUMBER", "802 117 433"),
        ("ask Romy Blum (277-123-4567) about it", "PHONE_NUMBER", "277-123-4567"),
        ("ask Romy Blum (1-277-123-4567).", "PHONE_NUMBER", "1-277-123-4567"),
        ("Mobile +44 7700 900 1234 5", "PHONE_NUMBER", "+44 7700 900 1234 5"),
    ],
)
def test_found(fast, text, entity, value):
    assert (entity, value) in found(fast, text)


@pytest.mark.parametrize(
    "text",
    [
        "Case 2771234567 was closed.",
        "Order 2223 0031 2200 3223 shipped",  # not Luhn
        "ticket #2771234567 reopened",
        "ISBN 978-0-306-40615-7 (paperback)",
        "invoice 612448901 is overdue",
        "We flashed the router with firmware 12.4.10.3 and it worked.",
        "the switch runs fw 3.14.15.92 now",
        "Kernel 10.2.33.1 boots fine",
        "0.12.4.1 is the release we pinned",
        "serial 1234567890 (cell phone model)",
        "1 2 3 4 5 6 7 8 9 are digits",
        "the total was 1234 5678 9012 3452 cents",  # Luhn, but no card network starts with 1
        "ssn rules forbid 000-12-3456",
    ],
)
def test_hard_negatives_left_alone(fast, text):
    assert found(fast, text) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # United States, with a street type from the USPS list and a unit first
        (
            "Ship it to 4410 Quarry Bluff, Millbrook, OR 97321 by Friday.",
            "4410 Quarry Bluff, Millbrook, OR 97321",
        ),
        (
            "Suite 12 88 Tamarind Overpass, Dunmore, KS 66210",
            "Suite 12 88 Tamarind Overpass, Dunmore, KS 66210",
        ),
        # town line on its own line
        ("Accounts\nPine Hollow, WV 26501\n", "Pine Hollow, WV 26501"),
        # United Kingdom: postcode before or after the town, flat first
        ("Flat 7, Orchard Mews, BS3 4QT Redfield", "Flat 7, Orchard Mews, BS3 4QT Redfield"),
        ("3 Tanner Croft, Halden LS6 2JB", "3 Tanner Croft, Halden LS6 2JB"),
        # Canada
        (
            "She lives at 77 Birch Landing, Trois-Lacs J8V 3K2 now.",
            "77 Birch Landing, Trois-Lacs J8V 3K2",
        ),
        # Australia: unit/number, any street type, town and 4-digit postcode
        ("Level 3 21 Wattle Copse, Eastfield 3171", "Level 3 21 Wattle Copse, Eastfield 3171"),
        (
            "mail to 14/6 Banksia Esplanade, Coral Bay 6701.",
            "14/6 Banksia Esplanade, Coral Bay 6701",
        ),
        # Germany, Austria, Switzerland: compounds, hyphenated names, ranges
        ("Wir wohnen in der Kastanienallee 12, 10435 Berlin.", "Kastanienallee 12, 10435 Berlin"),
        ("Anna-Seghers-Straße 3-5, 55122 Mainz", "Anna-Seghers-Straße 3-5, 55122 Mainz"),
        ("Büro: Rosengasse 4/2, 1010 Wien", "Rosengasse 4/2, 1010 Wien"),
        # Netherlands
        ("Kerkstraat 12, 3511 LX Utrecht", "Kerkstraat 12, 3511 LX Utrecht"),
        ("Bezoek: Lindenhof 9, 7411AB Deventer", "Lindenhof 9, 7411AB Deventer"),
        # France, Spain, Italy: without a house number, before postcode and town
        ("avenue des Tilleuls, 69003 Lyon", "avenue des Tilleuls, 69003 Lyon"),
        ("Calle del Olmo, 28014 Madrid", "Calle del Olmo, 28014 Madrid"),
        ("Via dei Mille 14, 20129 Milano", "Via dei Mille 14, 20129 Milano"),
        # a postcode and town line under a street line
        ("Praxis Dr. Voss\nLindenweg 8\n79098 Freiburg\n", "79098 Freiburg"),
    ],
)
def test_addresses(fast, text, value):
    spans = [v for e, v in found(fast, text) if e == "STREET_ADDRESS"]
    assert any(value in v for v in spans), spans


@pytest.mark.parametrize(
    "text",
    [
        "In 2019 Union Station reopened after the renovation.",
        "Version 2 Key Features are listed below.",
        "The 2021 Spring Meeting was postponed.",
        "Spring 2019 was wet.",
        "She wrote 12345 Words in a month.",
        "In 1999 Apple, Inc 2000 plans were drafted.",
    ],
)
def test_address_hard_negatives(fast, text):
    assert [e for e, _ in found(fast, text) if e == "STREET_ADDRESS"] == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Idris -\n\nThe minutes are attached.", "Idris"),
        ("Philippa,\n\nthanks for the notes.", "Philippa"),
        ("Cheers for the help.\n\nThanks in advance,\nTobiah\n", "Tobiah"),
        ('"Late again, Oswin," said the clerk.', "Oswin"),
        ('"Where did you park, Delacroix?" she asked.', "Delacroix"),
        ('"PERPETUA VANCE!" her aunt called.', "PERPETUA VANCE"),
        ("The envelope was addressed to Quist, Hallvard, but came back.", "Quist, Hallvard"),
        ("The bike belongs to Odile Marchetti; nobody claimed it.", "Odile Marchetti"),
        ("Ask for Tamsin at the counter.", "Tamsin"),
        ("yesterday we ran into odile marchetti at the market", "odile marchetti"),
        ("-- Agent Zenobia (tier 1)", "Zenobia"),
        ("Customer: HALLVARD QUIST\nCallback number: 555 0100", "HALLVARD QUIST"),
        ("WARN audit: hold for odile marchetti, ssn=219-09-9999", "odile marchetti"),
        ("Odile Marchetti (born 4 June 1961) is a glassmaker.", "Odile Marchetti"),
        ("References: Tobiah Wren (415 555 0132).", "Tobiah Wren"),
        ("odile marchetti | odile@example.org | Lyon", "odile marchetti"),
        ('"Come on," said Hallvard Quist.', "Hallvard Quist"),
    ],
)
def test_names_in_context(fast, text, value):
    assert ("PERSON", value) in found(fast, text)


@pytest.mark.parametrize(
    "text",
    [
        '"Dinner!" she shouted up the stairs.',
        "Hello,\n\nthe report is attached.",
        "Everyone,\n\nthe build is green.",
        "Ask for help at the counter.",
        '"Is it ready, sir?" he asked.',
        "The parcel belongs to the office.",
        "Summary:\n\nAll tests pass.",
    ],
)
def test_name_cue_hard_negatives(fast, text):
    assert [e for e, _ in found(fast, text) if e == "PERSON"] == []
