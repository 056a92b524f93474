"""A small corpus with a small val fraction still gets a validation split (one document)."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from corpusforge.pipeline.stage import run_local
from corpusforge.pipeline.tokenize import TokenDataset, TokenizeConfig, tokenize_job
from corpusforge.pipeline.tokenize.sampling import split_of, unit_hash
from tests._tokenize_helpers import write_corpus


def _ids(ds: TokenDataset) -> list[str]:
    tables = [pq.read_table(s.with_suffix(".docs.parquet")) for s in ds.shards]
    return [i for t in tables for i in t["id"].to_pylist()]


def test_val_gets_one_document_when_the_hash_split_leaves_it_empty(tmp_path):
    corpus = write_corpus(tmp_path / "in", docs=12, rows_per_shard=5)  # 3 input shards
    ids = [f"doc-{i:05d}" for i in range(12)]
    config = TokenizeConfig(vocab_size=512, val_fraction=0.01, workers=1)
    assert all(split_of(i, config.val_fraction, config.seed) == "train" for i in ids)

    manifest = run_local(tokenize_job(corpus, tmp_path / "out", config))
    train, val = TokenDataset(tmp_path / "out", "train"), TokenDataset(tmp_path / "out", "val")
    moved = min(ids, key=lambda i: unit_hash(config.seed, "split", i))
    assert _ids(val) == [moved] and sorted(_ids(train) + _ids(val)) == ids
    assert manifest["splits"]["val"]["documents"] == 1
    assert manifest["splits"]["val"]["tokens"] == val.num_tokens > 0
    assert manifest["splits"]["train"]["tokens"] == train.num_tokens
    # the moved document's tokens are exactly what the val-only chunk would hold
    again = run_local(
        tokenize_job(
            corpus,
            tmp_path / "again",
            TokenizeConfig(
                tokenizer_dir=str(tmp_path / "out" / "tokenizer"), val_fraction=0.0, workers=1
            ),
        )
    )
    assert again["splits"]["val"]["documents"] == 0  # fraction 0: no validation asked for
    whole = TokenDataset(tmp_path / "again", "train")
    docs = dict(zip(_ids(whole), whole.iter_documents(), strict=True))
    assert np.array_equal(val.document(0), docs[moved])
    assert np.array_equal(
        np.concatenate(list(train.iter_documents())),
        np.concatenate([docs[i] for i in ids if i != moved]),
    )
