"""Resume on another world size: one process -> torchrun 2 (FSDP2) -> 2 (FSDP2) -> one -> 2
(DDP) -> one, on CPU with gloo, each leg picking up the previous leg's checkpoint. The global
batch stays the same (8 windows: 8 x 1 rank or 4 x 2 ranks), so every step sees the same tokens
as an uninterrupted single-process run and the losses agree up to floating-point reduction
order. (Bit-identity where the world size does not change: test_train_pretrain.py.) Each rank
of the FSDP2 2 -> 2 leg reads its own shards' byte ranges, not the whole checkpoint."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from corpusforge.model.pretrain import pretrain
from corpusforge.pipeline.tokenize import TokenDataset
from tests._train_helpers import (  # noqa: F401 (one_torch_thread: autouse)
    book_paragraphs,
    one_torch_thread,
    tiny_config,
    token_shards,
)

READ = re.compile(r"resume rank (\d+): read (\d+) bytes")


def _losses(path: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if r["kind"] == "train"}


def test_resume_across_world_sizes_ddp_and_fsdp(fixtures_dir, tmp_path):
    from corpusforge.model.store import bootstrap_store, fetched, open_store

    shards = token_shards(book_paragraphs(fixtures_dir, 120_000), tmp_path / "shards")
    assert TokenDataset(shards, "train").num_tokens > 0
    token = bootstrap_store(tmp_path / "ws")["svc:trainer"]
    store = open_store(tmp_path / "ws", token)
    # every step inside the warmup: the schedule does not depend on where a leg stops
    common = dict(data=str(shards), warmup_steps=10, log_every=1, eval_every=100, cpu_threads=1)
    common["storage_args"] = {"workspace": str(tmp_path / "ws")}

    reads: dict[int, dict[int, int]] = {}  # leg end -> rank -> bytes read from the store

    def leg(run: str, end: int, world: int, fsdp: bool = False) -> dict[int, float]:
        metrics = tmp_path / f"{run}-{end}.jsonl"
        config = tiny_config(
            tmp_path,
            run_name=run,
            max_steps=end,
            checkpoint_every=end,
            micro_batch_size=8 // world,
            fsdp=fsdp,
            metrics_path=str(metrics),
            **common,
        )
        if world == 1:
            pretrain(config, store)
            return _losses(metrics)
        path = tmp_path / f"{run}-{end}.json"
        path.write_text(config.model_dump_json())
        env = {**os.environ, "CORPUSFORGE_TOKEN": token, "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={world}", "-m", "corpusforge.model.pretrain",
               "--config", str(path)]  # fmt: skip
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert f"world={world}" in out.stdout and "resumed from" in out.stdout
        reads[end] = {int(r): int(b) for r, b in READ.findall(out.stdout)}
        return _losses(metrics)

    straight = leg("straight", 10, 1)
    chain: dict[int, float] = {}
    legs = [(2, 1, False), (4, 2, True), (5, 2, True), (6, 1, False), (8, 2, False)]
    for end, world, fsdp in legs:
        chain |= leg("chain", end, world, fsdp)
        if end == 4:  # FSDP2: each rank wrote and stored its own shards, one object each
            with fetched(store, "runs/chain/step-0000004", tmp_path / "raw") as path:
                stored = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
                state = torch.load(path / "training_state.pt", weights_only=True)
            for folder in ("model", "optimizer"):
                assert {f"{folder}/.metadata", f"{folder}/__0_0.distcp"} <= stored
                assert f"{folder}/__1_0.distcp" in stored
            assert "model.safetensors" not in stored and "config.json" in stored
            assert "optimizer" not in state and state["world_size"] == 2
            assert store.info("runs/chain/step-0000004")["files"] == len(stored)
        if end == 5:  # FSDP2 2 -> 2: each rank reads its own slices, not the checkpoint
            size = store.info("runs/chain/step-0000004")["bytes"]
            assert sorted(reads[5]) == [0, 1], reads
            assert all(n < 0.6 * size for n in reads[5].values()), (reads[5], size)
    chain |= leg("chain", 10, 1)
    assert sorted(chain) == list(range(1, 11))
    assert chain[1] == straight[1] and chain[2] == straight[2]  # the first leg: same process
    for step in range(3, 11):
        assert chain[step] == pytest.approx(straight[step], rel=1e-4, abs=1e-4), step
