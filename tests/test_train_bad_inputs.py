"""Bad input fails before any training step, with a one-line typed error."""

from __future__ import annotations

import json

import pytest

from corpusforge.core.errors import ConfigError, InputError, IntegrityError
from corpusforge.model.config import SFTConfig, TrainConfig
from corpusforge.model.pretrain import check_vocab, main, pretrain
from corpusforge.model.sft import finetune, read_sft_rows
from corpusforge.pipeline.tokenize import TokenDataset
from tests._train_helpers import (  # noqa: F401 (one_torch_thread: autouse)
    book_paragraphs,
    one_torch_thread,
    open_test_store,
    tiny_config,
    token_shards,
)


@pytest.fixture(scope="module")
def setup(fixtures_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    texts = book_paragraphs(fixtures_dir, limit_chars=60_000)
    shards = token_shards(texts, root / "shards")
    store = open_test_store(root / "ws")
    pretrain(tiny_config(root, data=str(shards), run_name="base", max_steps=1), store)
    return shards, store, texts


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and message
    return message


def test_missing_shards(tmp_path, setup):
    _, store, _ = setup
    with pytest.raises(InputError) as exc:
        pretrain(tiny_config(tmp_path, data=str(tmp_path / "nowhere")), store)
    assert "not found" in _one_line(exc)


def test_corrupt_shard(tmp_path, setup):
    import shutil

    shards, store, _ = setup
    broken = tmp_path / "broken"
    shutil.copytree(shards, broken)
    shard = TokenDataset(broken, "train").shards[0]
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte in the token data
    shard.write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as exc:
        pretrain(tiny_config(tmp_path, data=str(broken), run_name="broken"), store)
    assert shard.name in _one_line(exc)


def test_tokenizer_and_model_vocab_mismatch(tmp_path, setup):
    from transformers import AutoTokenizer

    from corpusforge.pipeline.tokenize.tokenizer import save_hf_tokenizer, train_tokenizer

    shards, _, texts = setup
    other = AutoTokenizer.from_pretrained(save_hf_tokenizer(train_tokenizer(texts, 640), tmp_path))
    source = TokenDataset(shards, "train")
    with pytest.raises(ConfigError) as exc:
        check_vocab(other, source)
    assert "tokenizer has" in _one_line(exc)
    tokenizer = AutoTokenizer.from_pretrained(source.tokenizer_dir)
    with pytest.raises(ConfigError) as exc:
        check_vocab(tokenizer, source, model_vocab=1024)
    assert "model vocabulary 1024" in _one_line(exc)


def test_checkpoint_from_another_preset(tmp_path, setup):
    shards, store, _ = setup
    resume_as_124m = TrainConfig(data=str(shards), preset="124m", run_name="base", max_steps=2)
    with pytest.raises(ConfigError) as exc:
        pretrain(resume_as_124m, store)
    assert "from preset 'tiny'" in _one_line(exc)
    sft = tmp_path / "sft.jsonl"
    sft.write_text(json.dumps({"prompt": "Hi?", "response": "Hello."}) + "\n")
    finetune_350m = SFTConfig(data=str(sft), init_from="runs/base/step-0000001", preset="350m")
    with pytest.raises(ConfigError) as exc:
        finetune(finetune_350m, store)
    assert "this run is '350m'" in _one_line(exc)


@pytest.mark.parametrize(
    "row,reason",
    [
        ({"prompt": "Hi?"}, "missing field 'response'"),
        ({"response": "Hello."}, "missing field 'prompt'"),
        ({"messages": [{"role": "user", "content": "Hi?"}]}, "no assistant message"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "needs a role"),
        ({"messages": [{"role": "assistant"}]}, "missing string field 'content'"),
        ("not json {", "not valid JSON"),
    ],
)
def test_sft_rows_with_missing_fields(tmp_path, row, reason):
    path = tmp_path / "sft.jsonl"
    good = json.dumps({"prompt": "Hi?", "response": "Hello."})
    bad = row if isinstance(row, str) else json.dumps(row)
    path.write_text(f"{good}\n{bad}\n")
    with pytest.raises(InputError) as exc:
        read_sft_rows(path)
    assert f"{path}:2: " in _one_line(exc) and reason in str(exc.value)
    assert "Hi?" not in str(exc.value)  # never row content in an error


def test_command_line_reports_one_line(tmp_path, capsys):
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"data": str(tmp_path / "missing"), "storage": "nowhere:x"}))
    assert main(["--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    config.write_text(json.dumps({"data": "x", "preset": "7b"}))
    assert main(["--config", str(config)]) == 2
    assert "invalid config" in capsys.readouterr().err
