"""Sharded training checkpoints on one process: the stored layout (weight and optimizer shards,
no consolidated weights), the separate Hugging Face export (function and `corpusforge store
export`), and the attack: a tampered or swapped shard object is refused on resume and export.
Two ranks (gloo, spawned): one that cannot store its shards fails both at once, nothing kept."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import torch

from corpusforge.core.errors import IntegrityError
from corpusforge.model.checkpoint import export_checkpoint, write_hf_weights
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


@pytest.fixture(scope="module")
def _trained_once(fixtures_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    shards = token_shards(book_paragraphs(fixtures_dir, 60_000), root / "tok")
    tokens = bootstrap_store(root / "ws")
    config = tiny_config(root, data=str(shards), run_name="shards", max_steps=2, checkpoint_every=2)
    pretrain(config, open_store(root / "ws", tokens["svc:trainer"]))
    return root, config, tokens["svc:trainer"]


@pytest.fixture
def trained(_trained_once, tmp_path):
    """A copy of the trained workspace (store, keys, audit log) for each test to attack."""
    root, config, token = _trained_once
    shutil.copytree(root / "ws", tmp_path / "ws")
    config = config.model_copy(update={"metrics_path": str(tmp_path / "metrics.jsonl")})
    store = open_store(tmp_path / "ws", token)
    return {"store": store, "config": config, "tmp": tmp_path, "token": token}


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


def test_store_get_gives_the_design_layout_plus_the_resumable_state(trained, tmp_path):
    """DESIGN.md: a fetched checkpoint is a Hugging Face folder that `from_pretrained` loads,
    plus the resumable training state; `--raw` writes only what is stored."""
    from transformers import AutoModelForCausalLM
    from typer.testing import CliRunner

    from corpusforge.cli import app

    def get(dest: Path, *extra: str):
        args = ["store", "get", NAME, str(dest), "--workspace", str(tmp_path / "ws"), *extra]
        return CliRunner().invoke(app, args, env={"CORPUSFORGE_TOKEN": trained["token"]})

    result = get(tmp_path / "got")
    assert result.exit_code == 0, result.output
    got = tmp_path / "got"
    assert (got / "training_state.pt").is_file() and (got / "optimizer" / ".metadata").is_file()
    assert (got / "model.safetensors").stat().st_mode & 0o077 == 0
    exported = export_checkpoint(trained["store"], NAME, tmp_path / "hf")
    assert (got / "model.safetensors").read_bytes() == (exported / "model.safetensors").read_bytes()
    model = AutoModelForCausalLM.from_pretrained(got)
    assert torch.isfinite(model(input_ids=torch.tensor([[1, 2, 3]])).logits).all()

    result = get(tmp_path / "raw", "--raw")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "raw" / "model.safetensors").exists()
    assert (tmp_path / "raw" / "model" / ".metadata").is_file()


def test_a_checkpoint_of_the_previous_layout_resumes_to_the_same_losses(trained, tmp_path):
    """Before the weights were sharded, a checkpoint held them as model.safetensors."""
    store, config = trained["store"], trained["config"]
    with fetched(store, NAME, tmp_path / "raw") as raw:
        write_hf_weights(store, NAME, raw)
        shutil.rmtree(raw / "model")
        store.put_checkpoint("runs/old/step-0000002", raw, store.info(NAME)["metadata"])

    def resume(run: str) -> dict[int, float]:
        losses: dict[int, float] = {}
        update = {"run_name": run, "max_steps": 4, "metrics_path": None}
        pretrain(
            config.model_copy(update=update),
            store,
            on_step=lambda r: losses.__setitem__(r["step"], r["loss"]),
        )
        return losses

    old, new = resume("old"), resume("shards")
    assert sorted(old) == [3, 4] and old == new


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


class _RankOneCannotStore:
    """The real store, except that rank 1's part fails (a full disk on its node)."""

    def __init__(self, store, rank: int):
        self.store, self.rank = store, rank

    def __getattr__(self, name):
        return getattr(self.store, name)

    def put_part(self, name, local_dir, metadata):
        if self.rank == 1:
            raise OSError(28, "No space left on device")
        return self.store.put_part(name, local_dir, metadata)


def _save_on_rank(rank: int, world: int, port: int, ws: str, token: str, out: str) -> None:
    import datetime

    import torch.distributed as dist
    from transformers import LlamaConfig

    from corpusforge.model.blocks import CausalLM
    from corpusforge.model.checkpoint import save_training_checkpoint
    from corpusforge.model.config import TrainConfig
    from corpusforge.model.loop import Job
    from corpusforge.model.runtime import Runtime

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        config = TrainConfig(preset="tiny", data=ws, run_name="fail", max_steps=1)
        rt = Runtime(torch.device("cpu"), rank, rank, world)
        llama = LlamaConfig(
            vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
            num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=True,
        )  # fmt: skip
        model = torch.nn.parallel.DistributedDataParallel(CausalLM(llama))
        optimizer = torch.optim.AdamW(model.parameters())
        model(torch.tensor([[1, 2, 3]]), torch.tensor([[2, 3, 4]])).backward()
        optimizer.step()
        store = _RankOneCannotStore(open_store(ws, token), rank)
        job = Job(config, rt, store, model.module, None, None, [], dict, print)
        started = time.monotonic()
        try:
            save_training_checkpoint(job, model, optimizer, None, 1, 0, {})
            outcome = "saved"
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        Path(out, f"rank{rank}.txt").write_text(f"{time.monotonic() - started:.1f}\n{outcome}")
    finally:
        dist.destroy_process_group()


def test_a_rank_that_cannot_store_its_shards_fails_every_rank_and_leaves_nothing(tmp_path):
    import socket

    import torch.multiprocessing as mp

    tokens = bootstrap_store(tmp_path / "ws")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = (2, port, str(tmp_path / "ws"), tokens["svc:trainer"], str(tmp_path))
    mp.spawn(_save_on_rank, args=args, nprocs=2, join=True)
    for rank in (0, 1):
        seconds, outcome = (tmp_path / f"rank{rank}.txt").read_text().split("\n", 1)
        assert outcome.startswith("IntegrityError") and "rank 1 could not store" in outcome
        assert "No space left on device" in outcome and float(seconds) < 30
    store = open_store(tmp_path / "ws", tokens["svc:trainer"])
    assert store.list_checkpoints() == []
    leftovers = list(Path(store.root).rglob("@*.enc")) if Path(store.root).exists() else []
    assert leftovers == []  # rank 0's part never went up; nothing was committed
