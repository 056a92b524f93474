"""The trained tokenizer: HF loading, exact round trips, single-token specials, chat template."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from corpusforge.pipeline import special_tokens as st
from corpusforge.pipeline.stage import run_local
from corpusforge.pipeline.tokenize import TokenizeConfig, tokenize_job
from tests._tokenize_helpers import SCRIPTS, write_corpus


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    corpus = write_corpus(root / "in", docs=400)
    config = TokenizeConfig(vocab_size=1024, val_fraction=0.1, shard_tokens=10_000, workers=1)
    manifest = run_local(tokenize_job(corpus, root / "out", config))
    return root / "out", manifest


@pytest.fixture(scope="module")
def hf(tokenized):
    return AutoTokenizer.from_pretrained(str(tokenized[0] / "tokenizer"))


def test_auto_tokenizer_loads_with_special_tokens(hf, tokenized):
    _, manifest = tokenized
    assert hf.eos_token == st.EOT and hf.pad_token == st.PAD
    assert hf.eos_token_id == manifest["tokenizer"]["eot_id"]
    assert hf.pad_token_id == manifest["tokenizer"]["pad_id"]
    assert len(hf) == manifest["tokenizer"]["vocab_size"]
    assert manifest["tokenizer"]["dtype"] == "uint16"


@pytest.mark.parametrize("token", st.ALL_SPECIAL_TOKENS)
def test_every_special_token_is_one_token(hf, token):
    ids = hf.encode(f"before{token}after", add_special_tokens=False)
    assert hf.convert_tokens_to_ids(token) in ids
    assert len(hf.encode(token, add_special_tokens=False)) == 1
    # never merged into neighbours
    assert hf.decode(ids) == f"before{token}after"


@pytest.mark.parametrize(
    "text",
    [
        "Dear <|person|>, write to <|email|> or call <|phone|> from <|ip|>.",
        "  leading and trailing spaces  \n\n\ttabs\r\nwindows line ends ",
        *SCRIPTS,
        "<|person|><|person|> adjacent placeholders<|org|>",
        "numbers 1234567 and 3.14159 and unknown bytes \x00\x07 \u200b",
    ],
)
def test_round_trip_is_exact(hf, text):
    ids = hf.encode(text, add_special_tokens=False)
    assert hf.decode(ids) == text


def test_chat_template(hf):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Who is <|person|>?"},
        {"role": "assistant", "content": "A placeholder."},
    ]
    text = hf.apply_chat_template(messages, tokenize=False)
    assert text == (
        f"{st.SYSTEM}\nBe brief.{st.END_OF_TURN}\n{st.USER}\nWho is <|person|>?{st.END_OF_TURN}\n"
        f"{st.ASSISTANT}\nA placeholder.{st.END_OF_TURN}\n"
    )
    prompt = hf.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith(f"{st.END_OF_TURN}\n{st.ASSISTANT}\n")
    ids = hf.apply_chat_template(messages[:2], tokenize=True, add_generation_prompt=True)
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    for marker in (st.SYSTEM, st.USER, st.END_OF_TURN, st.ASSISTANT):
        assert hf.convert_tokens_to_ids(marker) in ids
    with pytest.raises(Exception, match="unknown chat role"):
        hf.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)


def test_existing_tokenizer_dir_is_adopted(tokenized, tmp_path):
    out, manifest = tokenized
    corpus = write_corpus(tmp_path / "in", docs=60)
    config = TokenizeConfig(tokenizer_dir=str(out / "tokenizer"), workers=1, val_fraction=0.0)
    adopted = run_local(tokenize_job(corpus, tmp_path / "out", config))
    assert adopted["tokenizer"]["trained"] is False
    assert adopted["tokenizer"]["added_special_tokens"] == 0
    assert adopted["tokenizer"]["vocab_size"] == manifest["tokenizer"]["vocab_size"]
    hf = AutoTokenizer.from_pretrained(str(tmp_path / "out" / "tokenizer"))
    assert hf.encode("Hi <|person|>", add_special_tokens=False) == AutoTokenizer.from_pretrained(
        str(out / "tokenizer")
    ).encode("Hi <|person|>", add_special_tokens=False)


def test_vocab_size_must_be_multiple_of_64():
    with pytest.raises(ValueError, match="multiple of 64"):
        TokenizeConfig(vocab_size=1000)
