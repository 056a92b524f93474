"""Sharded training checkpoints on one process: the stored layout (weight and optimizer shards,
no consolidated weights), the separate Hugging Face export (function and `corpusforge store
export`), and the attack: a tampered or swapped shard object is refused on resume and export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from corpusforge.core.errors import IntegrityError
from corpusforge.model.checkpoint import export_checkpoint
from corpusforge.model.pretrain import pretrain
from corpusforge.model.store import bootstrap_store, fetched, open_store
from tests._store_attack import events
from tests._train_helpers import (  # noqa: F401 (one_torch_thread: autouse)
    book_paragraphs,
    one_torch_thread,
    tiny_config,
    token_shards,
)

NAME = "runs/shards/step-0000002"


@pytest.fixture
def trained(fixtures_dir, tmp_path):
    shards = token_shards(book_paragraphs(fixtures_dir, 60_000), tmp_path / "tok")
    tokens = bootstrap_store(tmp_path / "ws")
    store = open_store(tmp_path / "ws", tokens["svc:trainer"])
    config = tiny_config(
        tmp_path, data=str(shards), run_name="shards", max_steps=2, checkpoint_every=2
    )
    pretrain(config, store)
    return {"store": store, "config": config, "tmp": tmp_path, "token": tokens["svc:trainer"]}


def _object(store, rel: str) -> Path:
    body = json.loads((Path(store.root) / NAME / "@manifest.json").read_text())["body"]
    entry = next(e for e in body["files"] if e["path"] == rel)
    return Path(store.root) / NAME / f"@{entry['file_id']}.enc"


def test_layout_and_the_separate_hf_export(trained, tmp_path):
    from transformers import AutoModelForCausalLM

    store = trained["store"]
    with fetched(store, NAME, tmp_path / "raw") as raw:
        stored = {p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file()}
    assert {"model/.metadata", "model/__0_0.distcp", "optimizer/.metadata"} <= stored
    assert {"config.json", "training_state.pt", "train_config.json"} <= stored
    assert "model.safetensors" not in stored  # the weights are only the shards

    out = export_checkpoint(store, NAME, tmp_path / "hf")
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"config.json", "model.safetensors", "generation_config.json"} <= files
    assert not any(f.startswith(("model/", "optimizer/")) for f in files)
    assert "training_state.pt" not in files
    assert (out / "model.safetensors").stat().st_mode & 0o077 == 0
    model = AutoModelForCausalLM.from_pretrained(out)
    logits = model(input_ids=torch.tensor([[1, 2, 3]])).logits
    assert torch.isfinite(logits).all()

    from typer.testing import CliRunner

    from corpusforge.cli import app

    result = CliRunner().invoke(
        app,
        ["store", "export", NAME, str(tmp_path / "cli"), "--workspace", str(tmp_path / "ws")],
        env={"CORPUSFORGE_TOKEN": trained["token"]},
    )
    assert result.exit_code == 0, result.output
    for name in ("model.safetensors", "config.json"):
        assert (tmp_path / "cli" / name).read_bytes() == (out / name).read_bytes()


def test_a_tampered_shard_object_is_refused_on_resume_and_export(trained, tmp_path):
    store, config = trained["store"], trained["config"]
    obj = _object(store, "model/__0_0.distcp")
    raw = bytearray(obj.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one bit inside the weights
    obj.write_bytes(bytes(raw))
    resumed = config.model_copy(update={"max_steps": 4})
    with pytest.raises(IntegrityError, match=r"model/__0_0\.distcp: chunk \d+ failed auth"):
        pretrain(resumed, store)
    with pytest.raises(IntegrityError, match="failed authentication"):
        export_checkpoint(store, NAME, tmp_path / "hf")
    errors = [e for e in events(store_ws(trained), "store.get") if e.decision == "error"]
    assert len(errors) >= 2 and all(e.object == f"checkpoint:{NAME}" for e in errors)


def test_a_swapped_shard_object_is_refused_on_resume(trained):
    store, config = trained["store"], trained["config"]
    model, optimizer = (
        _object(store, "model/__0_0.distcp"),
        _object(store, "optimizer/__0_0.distcp"),
    )
    a, b = model.read_bytes(), optimizer.read_bytes()
    model.write_bytes(b)  # both genuine objects of this checkpoint, in each other's place
    optimizer.write_bytes(a)
    with pytest.raises(IntegrityError, match="failed authentication"):
        pretrain(config.model_copy(update={"max_steps": 4}), store)


def store_ws(trained):
    from corpusforge.core.workspace import Workspace

    return Workspace.resolve(trained["tmp"] / "ws")
