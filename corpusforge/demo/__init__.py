"""The demo corpus: a small, deterministic sample in the real source formats.

`write_sample(out_dir, seed, scale)` (`corpusforge sample DIR`, `corpusforge demo`, the tests and
benchmarks) writes the web crawl (`web.py`, WARC), Project Gutenberg books (`books.py`), a
MediaWiki export (`wiki.py`) and instruction-tuning rows (`sft.py`). The text is original and
generated from a seeded grammar (`prose.py`); fake personal data, exact and near duplicates are
planted on purpose (`planted.py`) and reported in the returned dict by counts and record ids,
never by value. Word lists, templates and licence texts are package data under `data/`.

Same seed => byte-identical files: every date is derived from the seed, gzip headers carry mtime 0
and zip entries a fixed date. Not a pipeline stage: nothing below the CLI imports this package.
"""

from corpusforge.demo.corpus import SAMPLE_VERSION, write_sample

__all__ = ["write_sample", "SAMPLE_VERSION"]
