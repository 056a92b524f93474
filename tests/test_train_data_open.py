"""Opening token shards for training: cheap checks at open, checksums on first read, a full
verification on request, and a run without validation when the val split is too small."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corpusforge.core.errors import IntegrityError
from corpusforge.model.data import open_tokens
from corpusforge.model.pretrain import pretrain
from corpusforge.pipeline.stage import run_local
from corpusforge.pipeline.tokenize import TokenDataset, TokenizeConfig, tokenize_job
from corpusforge.pipeline.tokenize.shard_format import HEADER_SIZE
from tests._tokenize_helpers import write_corpus
from tests._train_helpers import (  # noqa: F401 (one_torch_thread: autouse)
    one_torch_thread,
    open_test_store,
    tiny_config,
)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("open")
    corpus = write_corpus(root / "in", docs=120, rows_per_shard=60)
    config = TokenizeConfig(vocab_size=512, val_fraction=0.0, shard_tokens=3_000, workers=1)
    run_local(tokenize_job(corpus, root / "tok", config))
    return root / "tok"


def _corrupt_copy(shards, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(shards, broken)
    ds = TokenDataset(broken, "train")
    assert len(ds.shards) >= 3
    shard = ds.shards[1]
    data = bytearray(shard.read_bytes())
    data[HEADER_SIZE + 10] ^= 0xFF  # one flipped byte in the token content: size, header intact
    shard.write_bytes(bytes(data))
    return broken, ds, shard


def test_corrupt_shard_is_found_on_first_read_not_at_open(shards, tmp_path):
    broken, ds, shard = _corrupt_copy(shards, tmp_path)
    source = open_tokens(broken, "train")  # headers and indexes only: the flip is not seen yet
    first_shard_tokens = int(ds._token_starts[1])
    assert len(source.get_window(0, first_shard_tokens)) == first_shard_tokens  # shard 0 is fine
    with pytest.raises(IntegrityError, match=shard.name):
        source.get_window(first_shard_tokens, 8)


def test_truncated_shard_or_broken_index_fails_at_open(shards, tmp_path):
    broken = tmp_path / "cut"
    shutil.copytree(shards, broken)
    shard = TokenDataset(broken, "train").shards[2]
    shard.write_bytes(shard.read_bytes()[:-9])
    with pytest.raises(IntegrityError, match="truncated"):
        open_tokens(broken, "train")


def test_verify_tokens_command_reads_everything(shards, tmp_path):
    from corpusforge.cli import app

    ok = CliRunner().invoke(app, ["verify-tokens", str(shards)])
    assert ok.exit_code == 0 and "verified" in ok.output, ok.output
    broken, _, shard = _corrupt_copy(shards, tmp_path)
    bad = CliRunner().invoke(app, ["verify-tokens", str(broken)])
    assert isinstance(bad.exception, IntegrityError) and shard.name in str(bad.exception)


def test_empty_val_split_trains_without_validation_and_says_so_once(shards, tmp_path, capsys):
    assert TokenDataset(shards, "val").num_tokens == 0
    config = tiny_config(tmp_path, data=str(shards), max_steps=2, eval_every=1, log_every=1)
    result = pretrain(config, open_test_store(tmp_path / "ws"))
    out = capsys.readouterr().out
    assert out.count("no validation") == 1
    records = [json.loads(line) for line in Path(config.metrics_path).read_text().splitlines()]
    assert [r["kind"] for r in records] == ["train", "train"] and result["step"] == 2
    assert "val_loss" not in result
