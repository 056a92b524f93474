"""Slurm: infra/slurm/train.sbatch activates the environment and runs the training as a Prefect
flow run around `srun`, so the UI and the audit log see it. No Slurm here: a fake `srun` on PATH
runs its command locally (as srun does on a one-node allocation), a fake `scontrol` names the
node; the batch script itself runs unchanged under bash."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys
from pathlib import Path

from corpusforge.model.config import TrainConfig
from tests._train_helpers import (  # noqa: F401 (one_torch_thread: autouse)
    book_paragraphs,
    one_torch_thread,
    token_shards,
)

REPO = Path(__file__).resolve().parents[1]

FAKE_SRUN = """#!/bin/bash
# srun on a one-node allocation: drop srun's own options, run the command here.
printf '%s\\n' "$@" > "$SRUN_ARGV"
printf '%s\\n' "${VIRTUAL_ENV:-}" > "$SRUN_ARGV.env"
while [[ "$1" == --* ]]; do shift; done
exec "$@"
"""
FAKE_SCONTROL = """#!/bin/bash
[[ "$1 $2" == "show hostnames" ]] && echo localhost
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tool(bin_dir: Path, name: str, text: str) -> None:
    path = bin_dir / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_sbatch_script_trains_through_srun_as_a_prefect_flow_run(
    prefect_harness, workspace, fixtures_dir, tmp_path
):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.settings import PREFECT_API_URL

    from corpusforge.core.audit import AuditLog
    from corpusforge.model.store import bootstrap_store

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _tool(bin_dir, "srun", FAKE_SRUN)
    _tool(bin_dir, "scontrol", FAKE_SCONTROL)
    shards = token_shards(book_paragraphs(fixtures_dir, 40_000), tmp_path / "shards")
    config = TrainConfig(
        preset="tiny", data=str(shards), run_name="slurm-run", seq_len=32, micro_batch_size=4,
        max_steps=2, warmup_steps=0, eval_every=2, eval_batches=1, checkpoint_every=2,
        log_every=1, device="cpu",
    )  # fmt: skip
    config_path = tmp_path / "pretrain.json"
    config_path.write_text(config.model_dump_json())
    venv = Path(sys.executable).parent.parent
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",  # the venv's python only through activation
        "HOME": str(tmp_path),
        "CORPUSFORGE_ENV": str(venv),
        "CORPUSFORGE_WORKSPACE": str(workspace.root),
        "CORPUSFORGE_TOKEN": bootstrap_store(workspace.root)["svc:trainer"],
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "SLURM_JOB_ID": "4242",
        "SLURM_NNODES": "1",
        "SLURM_JOB_NODELIST": "node-a",
        "SLURM_GPUS_ON_NODE": "1",
        "MASTER_PORT": str(_free_port()),
        "OMP_NUM_THREADS": "1",
        "SRUN_ARGV": str(tmp_path / "srun-argv"),
    }
    done = subprocess.run(
        ["bash", str(REPO / "infra" / "slurm" / "train.sbatch"), str(config_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "pretrain slurm-run: 2 steps (Slurm job 4242)" in done.stdout

    # srun got one torchrun per node with the c10d rendezvous at the first node, in the
    # activated environment.
    argv = (tmp_path / "srun-argv").read_text().splitlines()
    assert argv[0] == "--kill-on-bad-exit=1"
    assert Path(argv[1]).parent.parent == venv and argv[2:4] == ["-m", "torch.distributed.run"]
    assert "--nnodes=1" in argv and "--nproc-per-node=1" in argv
    assert f"--rdzv-endpoint=localhost:{env['MASTER_PORT']}" in argv
    assert "--rdzv-id=4242" in argv and "--rdzv-backend=c10d" in argv
    assert (tmp_path / "srun-argv.env").read_text().strip() == str(venv)

    # The run is in the Prefect API (what the UI shows) ...
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["pretrain"])))
    mine = [r for r in runs if (r.parameters["params"].get("slurm") or {}).get("job_id") == "4242"]
    assert len(mine) == 1 and mine[0].state.is_completed()
    # ... and in the audit log.
    entry = AuditLog.for_workspace(workspace, create=False).latest("pretrain.run")
    assert entry.details["launcher"] == "slurm" and entry.details["slurm_job"] == "4242"
    assert entry.counts["steps"] == 2
    job_dir = workspace.run_dir("pretrain", "slurm-run")
    assert json.loads((job_dir / "config.json").read_text())["run_name"] == "slurm-run"
    assert (job_dir / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_sbatch_script_refuses_to_run_without_an_environment(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "CORPUSFORGE_ENV": str(tmp_path / "nowhere"),
        "CORPUSFORGE_WORKSPACE": str(tmp_path),
        "CORPUSFORGE_TOKEN": "x",
    }
    done = subprocess.run(
        ["bash", str(REPO / "infra" / "slurm" / "train.sbatch"), "c.json"],
        env={**env, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "neither a venv nor a conda environment" in done.stderr
