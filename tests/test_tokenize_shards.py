"""Token shards: read back to the tokenizer's ids, determinism, integrity errors, bad input,
mixture and split, lineage and erasure."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from corpusforge.core.errors import InputError, IntegrityError
from corpusforge.pipeline.documents import iter_documents
from corpusforge.pipeline.stage import run_local
from corpusforge.pipeline.tokenize import (
    TokenDataset,
    TokenizeConfig,
    document_lineage,
    rebuild_without,
    tokenize_job,
)
from corpusforge.pipeline.tokenize.shard_format import HEADER_SIZE
from tests._tokenize_helpers import SCRIPTS, write_corpus

CONFIG = dict(vocab_size=1024, val_fraction=0.2, shard_tokens=8_000)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "in", docs=500, rows_per_shard=200)


@pytest.fixture(scope="module")
def out(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tokens") / "out"
    run_local(tokenize_job(corpus, out, TokenizeConfig(**CONFIG, workers=1)))
    return out


def _tree_digest(root: Path) -> dict[str, str]:
    skip = {"manifest.json", "rejects.jsonl"}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".cache" not in p.parts and p.name not in skip
    }


def test_shards_read_back_to_the_tokenizer_ids(corpus, out):
    tok = Tokenizer.from_file(str(out / "tokenizer" / "tokenizer.json"))
    texts = {d["id"]: d["text"] for d in iter_documents(corpus)}
    seen = 0
    for split in ("train", "val"):
        ds = TokenDataset(out, split)
        assert len(ds.shards) > 1 and ds.dtype == np.uint16
        assert all(p.exists() for p in ds.shards)
        import pyarrow.parquet as pq

        ids = [
            i
            for s in ds.shards
            for i in pq.read_table(s.with_suffix(".docs.parquet"))["id"].to_pylist()
        ]
        assert len(ids) == ds.num_documents
        for doc_id, tokens in zip(ids, ds.iter_documents(), strict=True):
            expected = tok.encode(texts[doc_id], add_special_tokens=False).ids + [ds.eot_id]
            assert tokens.tolist() == expected
            seen += 1
        # windows across shard boundaries equal the concatenated documents
        flat = np.concatenate(list(ds.iter_documents()))
        assert len(flat) == ds.num_tokens
        for start in (0, 7_990, ds.num_tokens - 50):
            np.testing.assert_array_equal(ds.get_window(start, 50), flat[start : start + 50])
        assert ds.get_window(0, 10).dtype == np.int64
        with pytest.raises(IndexError):
            ds.get_window(ds.num_tokens - 5, 10)
        np.testing.assert_array_equal(ds.document(ds.num_documents - 1)[-1:], [ds.eot_id])
    assert seen == 500  # every document in exactly one split


def test_split_is_by_id_and_disjoint(out):
    splits = {}
    for split in ("train", "val"):
        ds = TokenDataset(out, split)
        splits[split] = {h["id"] for s in ds.shards for h in _doc_rows(s)}
    assert not splits["train"] & splits["val"]
    assert 0.1 < len(splits["val"]) / 500 < 0.3


def _doc_rows(shard: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(shard.with_suffix(".docs.parquet")).to_pylist()


def test_same_input_and_config_give_byte_identical_output(corpus, out, tmp_path):
    again = tmp_path / "again"
    # a fresh cache and two worker processes: nothing may depend on either
    run_local(tokenize_job(corpus, again, TokenizeConfig(**CONFIG, workers=2)))
    first, second = _tree_digest(out), _tree_digest(again)
    assert any(k.startswith("tokenizer/") for k in first)
    assert any(k.endswith(".bin") for k in first)
    assert first == second
    m1, m2 = (json.loads((d / "manifest.json").read_text()) for d in (out, again))
    assert m1["outputs"] == m2["outputs"] and m1["tokenizer"]["sha256"] == m2["tokenizer"]["sha256"]


def test_rerun_reuses_finished_chunks(corpus, out):
    manifest = run_local(
        tokenize_job(corpus, out, TokenizeConfig(**CONFIG, workers=1), overwrite=True)
    )
    assert manifest["counts"]["inputs_cached"] == len(list(corpus.glob("*.parquet")))
    assert manifest["tokenizer"]["reused"] is True


@pytest.mark.parametrize("damage", ["flip", "truncate", "swap"])
def test_corrupt_or_truncated_shard_is_an_error_naming_the_file(out, tmp_path, damage):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns(".cache"))
    ds = TokenDataset(copy, "train")
    victim = ds.shards[1]
    data = bytearray(victim.read_bytes())
    if damage == "flip":
        data[HEADER_SIZE + 100] ^= 0x01
        victim.write_bytes(bytes(data))
    elif damage == "truncate":
        victim.write_bytes(bytes(data[:-10]))
    else:
        shutil.copyfile(ds.shards[2], victim)
    ds = TokenDataset(copy, "train")
    ds.get_window(0, 10)  # shard 0 is intact and still readable
    with pytest.raises(IntegrityError, match=victim.name):
        ds.get_window(int(ds._token_starts[1]), 10)
    with pytest.raises(IntegrityError, match=victim.name):
        list(TokenDataset(copy, "train").iter_documents())


def test_missing_manifest_or_shard_is_an_error(out, tmp_path):
    with pytest.raises(IntegrityError, match="manifest"):
        TokenDataset(tmp_path)
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns(".cache"))
    (copy / "val" / "part-00000.bin").unlink()
    with pytest.raises(IntegrityError, match="part-00000.bin"):
        TokenDataset(copy, "val").document(0)


def test_bad_input_is_skipped_counted_or_encoded(out, tmp_path):
    # 20 MB of text in one document (words the tokenizer knows, so the test stays fast)
    big = ("privacy data model river city history \u6771\u4eac \U0001f389 " * 500_000)[:20_000_000]
    rows = [
        {"id": "empty", "text": "", "source": "web"},
        {"id": "none", "text": None, "source": "web"},
        {"id": "spaces", "text": " \n\t\r  \u3000", "source": "web"},
        {"id": "controls", "text": "\x00\x01\x1f\x7f\u200b", "source": "books"},
        {"id": "big", "text": big, "source": "books"},
        {"id": "scripts", "text": " | ".join(SCRIPTS), "source": "wiki"},
        {"id": "marker", "text": "a literal <|endoftext|> and <|user|> in text", "source": "web"},
    ]
    src = tmp_path / "bad.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    config = TokenizeConfig(tokenizer_dir=str(out / "tokenizer"), val_fraction=0.0, workers=1)
    manifest = run_local(tokenize_job(src, tmp_path / "o", config))
    assert manifest["counts"]["skipped_blank"] == 4
    assert manifest["counts"]["literal_control_markers"] == 1
    ds = TokenDataset(tmp_path / "o")
    assert ds.num_documents == 3
    tok = Tokenizer.from_file(str(ds.tokenizer_dir / "tokenizer.json"))
    big_tokens, *small = list(ds.iter_documents())
    assert big_tokens[-1] == ds.eot_id and len(big_tokens) > 1_000_000
    assert big.startswith(tok.decode(big_tokens[:1000].tolist()))
    for text, tokens in zip([rows[5]["text"], rows[6]["text"]], small, strict=True):
        assert tokens[-1] == ds.eot_id and ds.eot_id not in tokens[:-1]
        assert tok.decode(tokens[:-1].tolist(), skip_special_tokens=False) == text


def test_input_without_any_text_cannot_train(tmp_path):
    src = tmp_path / "blank.jsonl"
    src.write_text('{"id": "a", "text": "   "}\n{"id": "b", "text": ""}\n')
    with pytest.raises(InputError, match="no documents"):
        run_local(tokenize_job(src, tmp_path / "o", TokenizeConfig(vocab_size=512, workers=1)))


def test_unreadable_input_shard_is_quarantined(corpus, out, tmp_path):
    import shutil

    mixed = tmp_path / "mixed"
    shutil.copytree(corpus, mixed)
    (mixed / "part-00009.parquet").write_bytes(b"PAR1 definitely not parquet")
    config = TokenizeConfig(tokenizer_dir=str(out / "tokenizer"), workers=1)
    with pytest.raises(InputError, match="part-00009.parquet is not listed"):
        run_local(tokenize_job(mixed, tmp_path / "o", config))  # not a complete stage output
    manifest = run_local(tokenize_job(mixed, tmp_path / "o", config, allow_incomplete=True))
    assert manifest["counts"]["rejected"] == 1
    assert manifest["counts"]["in"] == 500
    rejects = (tmp_path / "o" / "rejects.jsonl").read_text()
    assert "part-00009.parquet" in rejects


def test_mixture_up_and_down_samples_sources(corpus, out, tmp_path):
    config = TokenizeConfig(
        tokenizer_dir=str(out / "tokenizer"),
        val_fraction=0.0,
        mixture={"web": 0.6, "books": 0.4},
        workers=1,
    )
    manifest = run_local(tokenize_job(corpus, tmp_path / "o", config))
    mix = manifest["mixture"]
    assert mix["weights"] == {"books": 0.4, "web": 0.6}
    assert mix["multipliers"]["wiki"] == 0 and mix["multipliers"]["web"] > 1
    by_source = manifest["by_source"]
    assert "wiki" not in by_source and manifest["counts"]["excluded_by_mixture"] > 150
    share = by_source["web"]["tokens_out"] / (
        by_source["web"]["tokens_out"] + by_source["books"]["tokens_out"]
    )
    assert 0.5 < share < 0.7
    # up-sampled copies are recorded in the lineage
    ds = TokenDataset(tmp_path / "o")
    copies = [r for s in ds.shards for r in _doc_rows(s) if r["copy"] > 0]
    assert copies and {r["source"] for r in copies} <= {"web", "books"}


def test_document_lineage_and_rebuild_without(out, tmp_path):
    ds = TokenDataset(out, "train")
    rows = _doc_rows(ds.shards[0])
    victim = rows[3]["id"]
    where = document_lineage(out, victim)
    assert len(where) == 1 and where[0]["shard"] == "train/part-00000.bin"
    doc = ds.document(3)
    assert where[0]["tokens"] == len(doc)
    np.testing.assert_array_equal(ds.get_window(where[0]["token_start"], len(doc)), doc)
    assert document_lineage(out, "no-such-doc") == []

    erased = tmp_path / "erased"
    manifest = rebuild_without(out, [victim], erased)
    assert manifest["erasure"]["shards_rewritten"] == ["train/part-00000.bin"]
    assert document_lineage(erased, victim) == []
    new = TokenDataset(erased, "train")
    new.verify()
    assert new.num_documents == ds.num_documents - 1
    assert new.num_tokens == ds.num_tokens - len(doc)
    for old_path, new_path in zip(ds.shards[1:], new.shards[1:], strict=True):
        assert old_path.read_bytes() == new_path.read_bytes()
    np.testing.assert_array_equal(new.document(3), ds.document(4))
