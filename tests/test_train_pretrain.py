"""Tiny-preset pretraining on CPU: falling val loss, exact resume, HF export, data sampling."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import torch

from corpusforge.model.checkpoint import LocalCheckpoint, latest_checkpoint
from corpusforge.model.config import build_llama_config, padded_vocab_size
from corpusforge.model.data import WindowSampler
from corpusforge.model.loop import train
from corpusforge.model.optim import lr_lambda
from corpusforge.model.pretrain import prepare_pretrain, pretrain
from corpusforge.model.runtime import setup_runtime
from corpusforge.pipeline.tokenize import TokenDataset
from tests._train_helpers import (  # noqa: F401 (one_torch_thread: autouse)
    book_paragraphs,
    one_torch_thread,
    open_test_store,
    tiny_config,
    token_shards,
)


@pytest.fixture(scope="module")
def corpus(fixtures_dir, tmp_path_factory):
    shards = token_shards(book_paragraphs(fixtures_dir), tmp_path_factory.mktemp("tok") / "shards")
    return shards, (TokenDataset(shards, "train"), TokenDataset(shards, "val"))


def test_val_loss_falls_and_metrics_are_written(corpus, tmp_path):
    shards, sources = corpus
    config = tiny_config(
        tmp_path, data=str(shards), max_steps=30, eval_every=15, checkpoint_every=30
    )
    result = pretrain(config, open_test_store(tmp_path / "ws"))

    records = [json.loads(line) for line in Path(config.metrics_path).read_text().splitlines()]
    val = [r["val_loss"] for r in records if r["kind"] == "val"]
    assert len(val) == 3 and val[-1] < val[0] - 0.5, val
    train_rows = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train_rows] == [5, 10, 15, 20, 25, 30]
    assert all(r["tokens_per_s"] > 0 and r["lr"] > 0 and "mfu" in r for r in train_rows)
    assert train_rows[-1]["tokens_seen"] == 30 * 8 * 64
    assert result["step"] == 30 and result["val_loss"] == val[-1]


def test_killed_and_resumed_run_matches_uninterrupted_run(corpus, tmp_path):
    shards, sources = corpus
    store = open_test_store(tmp_path / "ws")
    common = dict(max_steps=8, checkpoint_every=4, eval_every=4, grad_accum_steps=2, log_every=1)

    def run(name: str, kill_at: int | None = None) -> dict[int, float]:
        losses: dict[int, float] = {}

        def on_step(record):
            losses[record["step"]] = record["loss"]
            if record["step"] == kill_at:
                raise KeyboardInterrupt  # the job dies between checkpoints

        config = tiny_config(tmp_path, data=str(shards), run_name=name, metrics_path=None, **common)
        with contextlib.suppress(KeyboardInterrupt):
            pretrain(config, store, on_step=on_step)
        return losses

    straight = run("straight")
    first = run("killed", kill_at=6)
    assert sorted(first) == [1, 2, 3, 4, 5, 6]
    assert latest_checkpoint(store, "killed") == "runs/killed/step-0000004"
    resumed = run("killed")
    assert sorted(resumed) == [5, 6, 7, 8]  # restarted from the step-4 checkpoint
    assert resumed == {s: straight[s] for s in resumed}  # bit-for-bit the same losses
    assert first[5] == straight[5] and first[6] == straight[6]


def test_hf_export_loads_and_reproduces_trainer_logits(corpus, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    shards, sources = corpus
    store = open_test_store(tmp_path / "ws")
    config = tiny_config(tmp_path, data=str(shards), max_steps=4, checkpoint_every=4, eval_every=4)
    job = prepare_pretrain(config, store, setup_runtime(config))
    train(job)

    with LocalCheckpoint(store, "runs/pretrain/step-0000004") as path:
        assert {"config.json", "model.safetensors", "generation_config.json"} <= {
            p.name for p in path.iterdir()
        }
        loaded = AutoModelForCausalLM.from_pretrained(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
    assert len(tokenizer) == sources[0].vocab_size
    assert loaded.config.vocab_size == padded_vocab_size(len(tokenizer))
    ids = torch.tensor([tokenizer.encode("The old house stood at the end of the lane.")])
    job.raw_model.eval()
    with torch.no_grad():
        expected = job.raw_model(ids)  # the training blocks (fused Q/K/V, gate/up)
        got = loaded(input_ids=ids).logits
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_sampler_is_seeded_rank_sliced_and_resumable(corpus):
    _, (train_src, _) = corpus
    whole = WindowSampler(train_src, 32, 4, seed=3)
    ranks = [WindowSampler(train_src, 32, 2, seed=3, rank=r, world_size=2) for r in range(2)]
    for _ in range(3):
        inputs, targets = whole.next_batch()
        parts = [s.next_batch() for s in ranks]
        assert torch.equal(inputs, torch.cat([p[0] for p in parts]))
        assert torch.equal(inputs[:, 1:], targets[:, :-1])
    again = WindowSampler(train_src, 32, 4, seed=3)
    again.load_state_dict(whole.state_dict())
    assert torch.equal(again.next_batch()[0], whole.next_batch()[0])
    assert not torch.equal(WindowSampler(train_src, 32, 4, seed=4).next_batch()[0], inputs)


@pytest.mark.parametrize(
    "preset,millions",
    [("tiny", (0.5, 8)), ("124m", (120, 130)), ("350m", (340, 380)), ("1b", (1000, 1300))],
)
def test_preset_sizes(preset, millions):
    from transformers import LlamaForCausalLM

    cfg = build_llama_config(preset, 50257)
    assert cfg.vocab_size == 50304 and cfg.hidden_act == "silu"
    with torch.device("meta"):  # shapes only, no memory
        n = sum(p.numel() for p in LlamaForCausalLM(cfg).parameters())
    assert millions[0] <= n / 1e6 <= millions[1]


def test_schedule(tmp_path):
    assert padded_vocab_size(50257) == 50304 and padded_vocab_size(512) == 512
    config = tiny_config(tmp_path, max_steps=100, warmup_steps=10)
    f = lr_lambda(config)
    assert f(0) < f(5) < f(9) <= 1.0
    assert f(10) == pytest.approx(1.0) and f(100) == pytest.approx(config.min_lr_ratio)
    assert all(f(s) >= f(s + 1) for s in range(10, 100))
