"""Gutenberg reader: the three real books (old Small Print, modern markers without spaces,
modern markers with licence), and .zip / .txt.gz / UTF-8 books built in tmp_path."""

from __future__ import annotations

import gzip
import re
import zipfile

import pytest

from corpusforge.pipeline.ingest.config import IngestConfig
from corpusforge.pipeline.ingest.gutenberg import LICENSE, read_gutenberg, strip_gutenberg
from corpusforge.pipeline.ingest.records import RawDocument

BOOKS = {
    "books/pg3261-nwsnw10-old-small-print.txt": {
        "number": "3261",
        "title": "News from Nowhere",
        "author": "William Morris",
        "release_date": "June, 2002",
        "starts": "NEWS FROM NOWHERE",
        "ends": "Cirencester and Burford he must have meant.",
    },
    "books/pg11563-8.txt": {
        "number": "11563",
        "title": "Morning Bells",
        "author": "Frances Ridley Havergal",
        "release_date": "March 13, 2004",
        "starts": "MORNING BELLS",
        "ends": "If ever I loved Thee, my Saviour, 'tis now!\"",
    },
    "books/pg9198-8.txt": {
        "number": "9198",
        "title": "The Complete Angler, 1653",
        "author": "Isaak Walton",
        "release_date": "October, 2005",
        "starts": "THE COMPLETE ANGLER;",
        "ends": "FINIS.",
    },
}
BOILERPLATE = re.compile(
    r"project gutenberg|gutenberg|small print|licen[cs]e|e-?text prepared|^\s*produced by"
    r"|this file should be named|@|\*\*\*",
    re.IGNORECASE | re.MULTILINE,
)


def one(path, **kw):
    items = list(read_gutenberg(path, IngestConfig(), **kw))
    assert len(items) == 1 and isinstance(items[0], RawDocument)
    return items[0]


@pytest.mark.parametrize("name", sorted(BOOKS))
def test_real_books_are_clean(fixtures_dir, name):
    expected = BOOKS[name]
    doc = one(fixtures_dir / name)
    assert doc.source == "books"
    assert doc.key == f"pg{expected['number']}"
    assert doc.locator == expected["number"]
    assert doc.meta["title"] == expected["title"]
    assert doc.meta["author"] == expected["author"]
    assert doc.meta["ebook_number"] == expected["number"]
    assert doc.meta["language"] == "English"
    assert doc.meta["release_date"] == expected["release_date"]
    assert doc.meta["license"] == LICENSE
    hits = BOILERPLATE.findall(doc.text)
    assert hits == [], f"boilerplate left in {name}: {sorted(set(hits))}"
    assert doc.text.startswith(expected["starts"])
    assert doc.text.rstrip().endswith(expected["ends"])
    assert "\r" not in doc.text


def test_latin1_books_decode(fixtures_dir):
    angler = one(fixtures_dir / "books/pg9198-8.txt")
    assert angler.meta["encoding"] == "iso-8859-1"
    assert "\ufffd" not in angler.text and "\u00a3" in angler.text  # the pound sign
    bells = one(fixtures_dir / "books/pg11563-8.txt")
    assert "\u00a3" in bells.text


def test_small_print_book_keeps_its_body(fixtures_dir):
    doc = one(fixtures_dir / "books/pg3261-nwsnw10-old-small-print.txt")
    assert len(doc.text) > 400_000  # the book is ~420 kB: only boilerplate went
    assert "CHAPTER I:  DISCUSSION AND BED" in doc.text


def test_zip_and_txt_gz(fixtures_dir, tmp_path):
    raw = (fixtures_dir / "books/pg11563-8.txt").read_bytes()
    archive = tmp_path / "11563-8.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("11563-8.txt", raw)
        zf.writestr("images/cover.jpg", b"\xff\xd8\xff")
    from_zip = one(archive)
    assert from_zip.key == "pg11563" and from_zip.position == "11563-8.txt"
    packed = tmp_path / "11563-8.txt.gz"
    packed.write_bytes(gzip.compress(raw))
    from_gz = one(packed)
    plain = one(fixtures_dir / "books/pg11563-8.txt")
    assert from_zip.text == from_gz.text == plain.text


MODERN_UTF8 = """\ufeffThe Project Gutenberg eBook of A Small Test, by Ann Author

This ebook is for the use of anyone anywhere in the United States and
most other parts of the world at no cost and with almost no restrictions.

Title: A Small Test

Author: Ann Author

Release date: January 1, 2021 [eBook #99999]

Language: French

*** START OF THE PROJECT GUTENBERG EBOOK A SMALL TEST ***

Produced by Some Volunteer and the Online Distributed
Proofreading Team at https://www.pgdp.net

CHAPITRE PREMIER

Le caf\u00e9 \u00e9tait ferm\u00e9, mais la porte s'ouvrit quand m\u00eame.

End of the Project Gutenberg EBook of A Small Test, by Ann Author

*** END OF THE PROJECT GUTENBERG EBOOK A SMALL TEST ***

Updated editions will replace the previous one.
"""


def test_modern_utf8_book(tmp_path):
    path = tmp_path / "pg99999.txt"
    path.write_text(MODERN_UTF8, encoding="utf-8")
    doc = one(path)
    assert doc.key == "pg99999"
    assert doc.meta["encoding"] == "utf-8" and doc.meta["language"] == "French"
    assert doc.meta["release_date"] == "January 1, 2021"
    assert doc.text == (
        "CHAPITRE PREMIER\n\nLe caf\u00e9 \u00e9tait ferm\u00e9, mais la porte s'ouvrit quand "
        "m\u00eame."
    )


def test_small_print_after_the_book():
    text = "\n".join(
        [
            "The Project Gutenberg Etext of Old Thing, by Some Body",
            "",
            "*** START OF THE PROJECT GUTENBERG EBOOK OLD THING ***",
            "",
            "The real text of the book.",
            "",
            "End of The Project Gutenberg Etext of Old Thing",
            "",
            "***START**THE SMALL PRINT!**FOR PUBLIC DOMAIN EBOOKS**START***",
            "Why is this Small Print! statement here?",
            "*END THE SMALL PRINT! FOR PUBLIC DOMAIN EBOOKS*Ver.02/11/02*END*",
        ]
    )
    body, meta = strip_gutenberg(text)
    assert body == "The real text of the book."
    assert meta["title"] == "Old Thing" and meta["author"] == "Some Body"


def test_book_without_number_keys_on_sha256(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("Project Gutenberg sampler\n\nJust words.\n", encoding="utf-8")
    doc = one(path)
    assert re.fullmatch(r"[0-9a-f]{64}", doc.key)
    assert doc.text == "Just words."
