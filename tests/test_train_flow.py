"""Training hand-off flows: the job runs as a subprocess, logs stream, failures fail the flow."""

from __future__ import annotations

import json

import pytest

from corpusforge.flows.train import (
    FinetuneParams,
    PretrainParams,
    TrainingJobFailed,
    job_command,
    run_finetune,
    run_pretrain,
)
from corpusforge.model.config import SFTConfig, TrainConfig
from tests._train_helpers import (  # noqa: F401 (one_torch_thread: autouse)
    book_paragraphs,
    one_torch_thread,
    token_shards,
)


def test_job_command_uses_torchrun_for_gpus(tmp_path):
    cpu = job_command("corpusforge.model.pretrain", tmp_path / "c.json", 0)
    assert cpu[1:] == ["-m", "corpusforge.model.pretrain", "--config", str(tmp_path / "c.json")]
    gpu = job_command("corpusforge.model.pretrain", tmp_path / "c.json", 8)
    assert gpu[1:4] == ["-m", "torch.distributed.run", "--standalone"]
    assert "--nproc-per-node=8" in gpu and gpu[-3:] == [
        "corpusforge.model.pretrain",
        "--config",
        gpu[-1],
    ]


def test_pretrain_and_finetune_flows(prefect_harness, workspace, fixtures_dir, monkeypatch):
    from corpusforge.model.store import bootstrap_store

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the job subprocess: see one_torch_thread
    monkeypatch.setenv("CORPUSFORGE_TOKEN", bootstrap_store(workspace.root)["svc:trainer"])
    shards = token_shards(book_paragraphs(fixtures_dir, 80_000), workspace.root / "shards")
    common = dict(preset="tiny", seq_len=64, micro_batch_size=8, warmup_steps=2, log_every=2)
    config = TrainConfig(
        data=str(shards), run_name="flow", max_steps=12, eval_every=6, checkpoint_every=6, **common
    )
    summary = run_pretrain(PretrainParams(config=config, gpus=0))
    assert summary["steps"] == 12 and summary["last_val_loss"] < summary["first_val_loss"]
    run_dir = workspace.run_dir("pretrain", "flow")
    assert (run_dir / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    job_config = json.loads((run_dir / "config.json").read_text())
    assert job_config["storage"] == "store"
    assert job_config["storage_args"]["workspace"] == str(workspace.root)

    sft = workspace.root / "sft.jsonl"
    rows = [
        {"prompt": f"Count to {i}.", "response": " ".join(map(str, range(i)))} for i in range(1, 11)
    ]
    sft.write_text("\n".join(json.dumps(r) for r in rows))
    ft = SFTConfig(
        data=str(sft), init_from="runs/flow/step-0000012", run_name="flow-sft", max_steps=4,
        eval_every=4, checkpoint_every=4, val_fraction=0.2, **common,
    )  # fmt: skip
    assert run_finetune(FinetuneParams(config=ft, gpus=0))["steps"] == 4

    missing = config.model_copy(update={"data": str(workspace.root / "nowhere"), "run_name": "x"})
    with pytest.raises(TrainingJobFailed, match="token shards not found"):
        run_pretrain(PretrainParams(config=missing, gpus=0))
