"""The demo corpus's books: Project Gutenberg plain text in three header/footer styles.

Modern UTF-8 with BOM and CRLF (``books/N-0.txt``, and again as ``books/N-0.zip``), 2006-2019
ISO-8859-1 (``books/N-8.txt``) and the 2004 "no-space marker" style gzipped (``books/N.txt.gz``);
each ends with the licence text in `data/gutenberg_licence.txt`.
"""

from __future__ import annotations

import io
import random
import textwrap
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpusforge.demo.common import fold, gzip_member, seeded_rng
from corpusforge.demo.planted import Ledger, Pii
from corpusforge.demo.prose import NARRATIVE, Prose
from corpusforge.demo.resources import read_text


def _wrap(text: str, width: int = 70) -> str:
    return textwrap.fill(text, width=width, break_long_words=False, break_on_hyphens=False)


# the licence's paragraphs, one per blank-line-separated block
_LICENCE = read_text("gutenberg_licence.txt").strip().split("\n\n")

_ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV"]


@dataclass
class _BookSpec:
    number: int
    title: str
    author: str
    producers: list[str]
    chapters: int
    style: str  # modern | older | nospace
    encoding: str
    newline: str
    text: str = ""
    tally: tuple[Counter[str], Counter[str]] = field(default_factory=lambda: (Counter(), Counter()))


def _book_body(rng: random.Random, pii: Pii, spec: _BookSpec) -> str:
    prose = Prose(rng, NARRATIVE, None, "narrative")
    typographic = spec.encoding == "utf-8"
    out = [spec.title.upper(), "", f"BY {spec.author.upper()}", "", "", "CONTENTS", ""]
    names = [prose.chapter_title() for _ in range(spec.chapters)]
    out += [f"  {_ROMAN[i]}. {names[i]}" for i in range(spec.chapters)]
    out += ["", ""]
    letter_at = rng.randrange(1, spec.chapters)
    for c in range(spec.chapters):
        out += ["", f"CHAPTER {_ROMAN[c]}.", names[c].upper(), ""]
        for _ in range(rng.randint(6, 9)):
            p = prose.paragraph(4, 7)
            if not typographic:
                p = p.replace("“", '"').replace("”", '"')
            out += [_wrap(p), ""]
        if c == letter_at:
            addr = pii.address("uk", one_line=False).split("\n")
            pad = " " * 30
            out += [pad + line for line in addr]
            out += [pad + f"{rng.randint(2, 28)}th {rng.choice(['March', 'October'])}.", ""]
            out += [f"My dear {pii.name(style='first')},", ""]
            out += [_wrap(prose.paragraph(3, 4)), "", f"{' ' * 40}Yours ever,"]
            out += [f"{' ' * 40}{pii.name()}", ""]
            if spec.encoding == "iso-8859-1":
                out += [_wrap("The fare to town was £3, and the café on the quay had shut."), ""]
    return "\n".join(out)


def _book_text(rng: random.Random, pii: Pii, spec: _BookSpec) -> str:
    body = _book_body(rng, pii, spec)
    t, a, n = spec.title, spec.author, spec.number
    producers = " and ".join(spec.producers)
    release = f"{rng.choice(['January', 'May', 'August', 'November'])} {rng.randint(1, 28)}, "
    if spec.style == "modern":
        head = [
            f"The Project Gutenberg eBook of {t}, by {a}",
            "",
            _wrap(
                "This eBook may be used by anyone, almost anywhere, free of charge and with very "
                "few restrictions. You may copy it, give it away or reuse it under the terms of "
                "the Project Gutenberg License included with it or online at www.gutenberg.org. "
                "Readers outside the United States should check the laws of their country "
                "before using it."
            ),
            "",
            f"Title: {t}",
            "",
            f"Author: {a}",
            "",
            f"Release Date: {release}{rng.randint(2009, 2016)} [EBook #{n}]",
            f"Most recently updated: {release}2023",
            "",
            "Language: English",
            "",
            "Character set encoding: UTF-8",
            "",
            f"Produced by: {producers} and the Online Distributed Proofreading Team at "
            "https://www.pgdp.net",
            "",
            f"*** START OF THE PROJECT GUTENBERG EBOOK {t.upper()} ***",
            "",
            "",
        ]
        tail = [
            "",
            "",
            f"*** END OF THE PROJECT GUTENBERG EBOOK {t.upper()} ***",
            "",
            _wrap(
                "Updated editions replace older ones, and the older files are renamed. Because "
                "the printed edition is in the public domain in the United States, no one owns "
                "a United States copyright in this work, so the Foundation (and you!) can copy "
                "and distribute it there without permission or royalties."
            ),
            "",
            "START: FULL LICENSE",
            "",
        ]
        tail += [_wrap(p) + "\n" for p in _LICENCE]
    elif spec.style == "older":
        head = [
            f"The Project Gutenberg EBook of {t}, by {a}",
            "",
            _wrap(
                "This eBook is for anyone, anywhere, at no cost and with almost no restrictions. "
                "You may copy it, give it away or re-use it under the terms of the Project "
                "Gutenberg License included with this eBook or online at www.gutenberg.net"
            ),
            "",
            "",
            f"Title: {t}",
            "",
            f"Author: {a}",
            "",
            f"Release Date: {release}{rng.randint(2005, 2008)} [EBook #{n}]",
            "",
            "Language: English",
            "",
            "Character set encoding: ISO-8859-1",
            "",
            f"*** START OF THIS PROJECT GUTENBERG EBOOK {t.upper()} ***",
            "",
            "",
            "",
            f"Produced by {producers}",
            "",
            "",
        ]
        tail = [
            "",
            "",
            f"End of Project Gutenberg's {t}, by {a}",
            "",
            f"*** END OF THIS PROJECT GUTENBERG EBOOK {t.upper()} ***",
            "",
            f"***** This file should be named {n}-8.txt or {n}-8.zip *****",
            "This and all associated files of various formats will be found in:",
            f"        http://www.gutenberg.org/{'/'.join(str(n)[:-1])}/{n}/",
            "",
            f"Produced by {producers}",
            "",
            _wrap("Updated editions replace older ones, and the older files are renamed."),
            "",
            "",
            "*** START: FULL LICENSE ***",
            "",
        ]
        tail += [_wrap(p) + "\n" for p in _LICENCE]
        tail += ["*** END: FULL LICENSE ***"]
    else:  # nospace: an early-2000s file whose markers carry no inner spaces
        head = [
            f"The Project Gutenberg EBook of {t}, by {a}",
            "",
            _wrap(
                "This eBook is for anyone, anywhere, at no cost and with almost no restrictions. "
                "You may copy it, give it away or re-use it under the terms of the Project "
                "Gutenberg License included with this eBook or online at www.gutenberg.net"
            ),
            "",
            f"Title: {t}",
            "",
            f"Author: {a}",
            "",
            f"Release Date: {release}{rng.randint(2002, 2004)} [EBook #{n}]",
            "",
            "Language: English",
            "",
            "Character set encoding: ASCII",
            "",
            f"***START OF THE PROJECT GUTENBERG EBOOK {t.upper()}***",
            "",
            f"E-text prepared by {producers}",
            "",
            "",
        ]
        tail = [
            "",
            "",
            f"End of the Project Gutenberg EBook of {t}, by {a}",
            "",
            f"***END OF THE PROJECT GUTENBERG EBOOK {t.upper()}***",
            "",
            f"******* This file should be named {n}.txt or {n}.zip *******",
            "",
            "*** START: FULL LICENSE ***",
            "",
        ]
        tail += [_wrap(p) + "\n" for p in _LICENCE]
        tail += ["*** END: FULL LICENSE ***"]
    text = "\n".join(head) + body + "\n".join(tail) + "\n"
    if spec.encoding != "utf-8":
        text = fold(text, spec.encoding)
    return text


def write_books(root: Path, seed: int, ledger: Ledger) -> tuple[dict, list[str], int]:
    rng = seeded_rng(seed, "books")
    pii = Pii(rng)
    numbers = sorted(rng.sample(range(4_000, 60_000), 3))
    prose = Prose(rng, NARRATIVE, None, "narrative")
    specs = []
    for n, style, enc, nl, chapters in (
        (numbers[2], "modern", "utf-8", "\r\n", 12),
        (numbers[1], "older", "iso-8859-1", "\r\n", 9),
        (numbers[0], "nospace", "ascii", "\n", 7),
    ):
        author = pii.new_person()
        producers = [pii.new_person() for _ in range(2)]
        title = prose.book_title()
        # counted where they appear: "by Author" (head, tail), "Author:", "BY AUTHOR", producers
        tally_names = 4 if style != "modern" else 3
        spec = _BookSpec(
            n, title, author.full, [p.full for p in producers], chapters, style, enc, nl
        )
        for _ in range(tally_names):
            pii.name(author)
        for p in producers:
            for _ in range(2 if style == "older" else 1):
                pii.name(p)
        specs.append(spec)
        head_names = pii.take()
        spec.text = _book_text(rng, pii, spec)
        body_pii = pii.take()
        spec.tally = (body_pii[0] + head_names[0], body_pii[1] + head_names[1])

    files: list[str] = []
    info: list[dict[str, Any]] = []
    unc = 0
    for spec in specs:
        text = spec.text.replace("\n", spec.newline)
        data = text.encode(spec.encoding)
        if spec.style == "modern":
            data = b"\xef\xbb\xbf" + data  # PG's UTF-8 files start with a byte-order mark
            rel = f"books/{spec.number}-0.txt"
            zrel = f"books/{spec.number}-0.zip"
            (root / rel).write_bytes(data)
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
                zi = zipfile.ZipInfo(f"{spec.number}-0.txt", date_time=(2023, 5, 1, 0, 0, 0))
                zi.compress_type = zipfile.ZIP_DEFLATED
                zi.external_attr = 0o644 << 16
                zf.writestr(zi, data)
            (root / zrel).write_bytes(buf.getvalue())
            a = ledger.add("books", rel, str(spec.number), rel, spec.style, spec.tally)
            b = ledger.add("books", zrel, str(spec.number), zrel, spec.style, spec.tally)
            ledger.exact.append({"kind": "book_txt_zip", "a": a.ref(), "b": b.ref()})
            files += [rel, zrel]
            unc += 2 * len(data)
            entries = [(rel, "txt"), (zrel, "zip")]
        elif spec.style == "older":
            rel = f"books/{spec.number}-8.txt"
            (root / rel).write_bytes(data)
            ledger.add("books", rel, str(spec.number), rel, spec.style, spec.tally)
            files.append(rel)
            unc += len(data)
            entries = [(rel, "txt")]
        else:
            rel = f"books/{spec.number}.txt.gz"
            (root / rel).write_bytes(gzip_member(data))
            ledger.add("books", rel, str(spec.number), rel, spec.style, spec.tally)
            files.append(rel)
            unc += len(data)
            entries = [(rel, "txt.gz")]
        for path, container in entries:
            info.append(
                {
                    "file": path,
                    "container": container,
                    "ebook": spec.number,
                    "style": spec.style,
                    "encoding": spec.encoding,
                    "line_endings": "crlf" if spec.newline == "\r\n" else "lf",
                }
            )
    return {"files": files, "books": len(specs), "entries": info}, files, unc
