"""The demo corpus is the same bytes as before its move out of `pipeline/` (issue 15, item 5).

The hashes were recorded from `corpusforge.pipeline.sample.write_sample` before the generator was
split by format into `corpusforge.demo` and its word lists and texts moved into package data.
The raw file bytes are compared (gzip members carry mtime 0, zip entries a fixed date, bz2 has
no timestamp), and so is the returned description (counts, ids, planted pairs; `root` aside).
A deliberate change to the corpus updates these hashes in the same commit, and says why.
"""

# Recorded sha256 rows are longer than a line; one file per row reads better than wrapped halves.
# ruff: noqa: E501

from __future__ import annotations

import hashlib
import json

import pytest

from corpusforge.demo import write_sample

# (seed, scale): (sha256 of the description as sorted-key JSON, {file: sha256})
RECORDED = {
    (0, 1): (
        "5c7f9a552f010b13990c494bf983db604f2384580c2c30ad9da902f29210b84b",
        {
            "books/17791.txt.gz": "0911d608f6e492b6e0e2982cbb8fa92e0c52f7c40ce8b8d8b5e433fcd3f8ccff",
            "books/21945-8.txt": "d074dd81ce9852e22c78af764282a6edce648a4f1cd7ca80b1ad5ab6d597fd50",
            "books/44481-0.txt": "98296bbc12f5903077f7d407862b7f5aec8f38d71da4f04693a5e2334a39767f",
            "books/44481-0.zip": "99fbc26aec453c9a7c8f18f014c2359e1c84fb305abf5f81b7bfde83187a3c71",
            "sft/instructions.jsonl": "6aaef902edea899a6ae0ec8059e44aa1249327f864ded5ea1ca28a8959b471ce",
            "web/crawl-00000.warc.gz": "8fde1f0159fd96199199d156a948532b113af3201637d2171a59aedfb752a786",
            "wiki/enwiki-sample-pages-articles.xml.bz2": "f51ea9e091fa93afa2ba6a97801fe59644b8b2a5d462416ecfeb465973a1cae3",
        },
    ),
    (1, 1): (
        "3fbbd97b0c6c24aa2de958f25910b2460ea5141af0e7909ad84e4fcf371ba80f",
        {
            "books/43638.txt.gz": "9ea871810e18036746808760a189364e4a1eec4f8a6930b3019e4b89beccdbfe",
            "books/53140-8.txt": "ec133e64bb7f85ca3e283fdf30efdc008f57a38dd1248ccf638f2d4389c19895",
            "books/56704-0.txt": "7cd7f932596d07dd8a8a429a6aab240c8f4acb49cf9631e9e29381bd244638ae",
            "books/56704-0.zip": "fd5c7b68d745803697ccb81c58f73b2b9c1968c026ff80006da25a3bd1da6c23",
            "sft/instructions.jsonl": "622ebf2a6cf639174aa68e3d4400d8613e1ec8f32100a6bdf17c3d20e04a4589",
            "web/crawl-00000.warc.gz": "240afe0b9f25d33646543441f906bb5863f7f7acfc41b30611773c64d566a763",
            "wiki/enwiki-sample-pages-articles.xml.bz2": "d04a6aa4d9ed886b8d05144cdde9140e4f90e232ea4dce7125835253bdffa046",
        },
    ),
    (0, 2): (
        "3c198b54809d1a3882160c9537d0cc49bf173d5c2309acf76f1b0f425840ec2a",
        {
            "books/17791.txt.gz": "0911d608f6e492b6e0e2982cbb8fa92e0c52f7c40ce8b8d8b5e433fcd3f8ccff",
            "books/21945-8.txt": "d074dd81ce9852e22c78af764282a6edce648a4f1cd7ca80b1ad5ab6d597fd50",
            "books/44481-0.txt": "98296bbc12f5903077f7d407862b7f5aec8f38d71da4f04693a5e2334a39767f",
            "books/44481-0.zip": "99fbc26aec453c9a7c8f18f014c2359e1c84fb305abf5f81b7bfde83187a3c71",
            "sft/instructions.jsonl": "a61ad6ff04bdb098ca7aff0c37fc0807b8f1c2b9dafa671bdf05440d8a777e18",
            "web/crawl-00000.warc.gz": "44887e91a103b53d578f8b88b65ea6a3ebe176018c1260674f6740e4f9785393",
            "web/crawl-00001.warc.gz": "ebaeed8f7d3c9d1b95db41ae82251c8f5284c3283deddd956f03047178fb77f3",
            "wiki/enwiki-sample-pages-articles.xml.bz2": "6d9ca4dba8d7f4e1fcd6ce30ceae1b9cd5232329c9acb9586446caba14c0d775",
        },
    ),
}


@pytest.mark.parametrize(("seed", "scale"), sorted(RECORDED))
def test_the_sample_corpus_is_byte_identical_to_the_recorded_one(tmp_path, seed, scale):
    info = write_sample(tmp_path, seed=seed, scale=scale)
    described, files = RECORDED[(seed, scale)]
    written = {
        p.relative_to(tmp_path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(tmp_path.rglob("*"))
        if p.is_file()
    }
    assert written == files
    info.pop("root")
    assert hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest() == described
