"""Training hand-off: run the training job as a subprocess and report on it.

The flow writes the job's config, starts `torchrun --nproc-per-node N -m corpusforge.model.pretrain`
when N GPUs are visible (else plain `python -m corpusforge.model.pretrain`), streams its output into
the flow run's log, fails when the job fails, and publishes the metrics as a table and a loss-curve
image. The same command runs on a GPU work pool through infra/k8s or infra/slurm.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from pydantic import Field

from corpusforge.core.errors import CorpusforgeError
from corpusforge.core.settings import StrictModel
from corpusforge.core.workspace import Workspace
from corpusforge.flows.common import audit, markdown_table, publish_markdown, publish_table
from corpusforge.flows.k8s_training import PyTorchJobSettings
from corpusforge.flows.slurm_training import SlurmSettings, srun_command
from corpusforge.model.config import SFTConfig, TrainConfig

_PYTORCHJOB = Field(
    None,
    description="run the job on several Kubernetes nodes as a Kubeflow PyTorchJob "
    "(flows/k8s_training.py) instead of on this machine",
)

_SLURM = Field(
    None,
    description="the Slurm allocation this flow run trains on through srun "
    "(set by infra/slurm/train.sbatch via corpusforge.flows.slurm_training)",
)


class PretrainParams(StrictModel):
    config: TrainConfig
    gpus: int | None = Field(None, ge=0, description="processes to start; default: visible GPUs")
    job_dir: str | None = Field(None, description="config + metrics; default workspace runs/")
    pytorchjob: PyTorchJobSettings | None = _PYTORCHJOB
    slurm: SlurmSettings | None = _SLURM


class FinetuneParams(StrictModel):
    config: SFTConfig
    gpus: int | None = Field(None, ge=0)
    job_dir: str | None = None
    pytorchjob: PyTorchJobSettings | None = _PYTORCHJOB
    slurm: SlurmSettings | None = _SLURM


class TrainingJobFailed(CorpusforgeError):
    """The training subprocess exited non-zero."""


def visible_gpus() -> int:
    """GPUs this machine offers, counted without initialising CUDA in the flow process."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return len([d for d in listed.split(",") if d.strip() and d.strip() != "-1"])
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def job_command(module: str, config_path: Path, gpus: int) -> list[str]:
    if gpus >= 1:
        return [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={gpus}", "-m", module, "--config", str(config_path),
        ]  # fmt: skip
    return [sys.executable, "-m", module, "--config", str(config_path)]


@task(task_run_name="{module}")
def run_job(
    module: str, config_json: str, job_dir: str, gpus: int, slurm: SlurmSettings | None = None
) -> None:
    """Start the job, forward each output line to the run log, raise if it fails."""
    logger = get_run_logger()
    directory = Path(job_dir)
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "config.json"
    config_path.write_text(config_json)
    cmd = (
        srun_command(module, str(config_path), slurm)
        if slurm
        else job_command(module, config_path, gpus)
    )
    logger.info("starting: %s", " ".join(cmd))
    log_path = directory / "job.log"
    tail: list[str] = []
    with (
        open(log_path, "w", encoding="utf-8") as log,
        subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        ) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            line = line.rstrip()
            if line:
                logger.info(line)
                tail = (tail + [line])[-_TAIL_LINES:]
        rc = proc.wait()
    if rc != 0:
        raise TrainingJobFailed(
            f"{module} exited with code {rc}: {failure_cause(tail)} (full output: {log_path})"
        )


@task(task_run_name="pytorchjob-{name}")
def run_multinode(
    name: str, module: str, config_json: str, job_dir: str, settings: PyTorchJobSettings
) -> None:
    """The job as a Kubeflow PyTorchJob; its Master's output goes to the run log."""
    from corpusforge.flows.k8s_training import (  # lazy: the kubernetes client
        PyTorchJobFailed,
        pytorchjob_manifest,
        run_pytorchjob,
    )

    logger = get_run_logger()
    directory = Path(job_dir)
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "config.json"
    config_path.write_text(config_json)
    manifest = pytorchjob_manifest(name, module, str(config_path), settings)
    (directory / "pytorchjob.json").write_text(json.dumps(manifest, indent=2))
    logger.info(
        "PyTorchJob %s/%s: %d nodes x %d GPUs, image %s",
        settings.namespace, name, settings.nodes, settings.gpus_per_node, settings.image,
    )  # fmt: skip
    try:
        run_pytorchjob(manifest, directory / "job.log", logger.info, settings.poll_seconds)
    except PyTorchJobFailed as exc:
        tail = (directory / "job.log").read_text().splitlines()[-_TAIL_LINES:]
        raise TrainingJobFailed(
            f"PyTorchJob {name} failed: {failure_cause(tail) if tail else exc} "
            f"(full output: {directory / 'job.log'})"
        ) from exc


_TAIL_LINES = 400
# The last line of a Python traceback: `KeyError: 'state.0.step'`, `torch.OutOfMemoryError: ...`
_EXCEPTION_LINE = re.compile(
    r"^(?:\[rank\d+\]:\s*)?([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b.*)$"
)


def failure_cause(lines: list[str]) -> str:
    """The line of a failed job's output that says why: its own `error:` line, else the last
    exception line of a traceback (from whichever rank failed), else its last line. Banners
    such as torchrun's `=====` summary say nothing and are skipped."""
    for line in reversed(lines):
        if line.startswith("error:"):
            return line.removeprefix("error:").strip()
    for line in reversed(lines):
        match = _EXCEPTION_LINE.match(line.strip())
        if match and not match.group(1).startswith(
            ("torch.distributed.elastic", "ChildFailedError")
        ):
            return match.group(1)
    meaningful = [t for t in lines if t.strip("=- ")]
    return meaningful[-1] if meaningful else "no output"


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Metric records, the last one per (kind, step): a resumed job repeats a few steps."""
    if not path.exists():
        return []
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        latest[(r["kind"], r["step"])] = r
    return sorted(latest.values(), key=lambda r: (r["step"], r["kind"]))


def loss_curve_png(records: list[dict[str, Any]], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    train = [r for r in records if r["kind"] == "train"]
    val = [r for r in records if r["kind"] == "val"]
    ax.plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss")
    ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="val loss")
    ax.set(xlabel="step", ylabel="cross-entropy (nats/token)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def publish_metrics(kind: str, run_name: str, job_dir: Path) -> dict[str, Any]:
    records = read_metrics(job_dir / "metrics.jsonl")
    val = [r for r in records if r["kind"] == "val"]
    rows = [
        {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items() if v is not None}
        for r in records
    ]
    publish_table(f"{kind}-{run_name}-metrics", rows, f"{kind} {run_name}: loss, lr, tokens/s, MFU")
    png = loss_curve_png(records, f"{kind} {run_name}")
    (job_dir / "loss_curve.png").write_bytes(png)
    summary = {
        "run": run_name,
        "steps": max((r["step"] for r in records), default=0),
        "first_val_loss": val[0]["val_loss"] if val else None,
        "last_val_loss": val[-1]["val_loss"] if val else None,
        "loss_curve": str(job_dir / "loss_curve.png"),
    }
    publish_markdown(
        f"{kind}-{run_name}-loss-curve",
        f"## {kind} {run_name}\n\n![loss curve](data:image/png;base64,"
        f"{base64.b64encode(png).decode()})\n\n"
        + markdown_table([{k: v for k, v in summary.items() if k != "loss_curve"}]),
        f"{kind} {run_name}: loss curve",
    )
    return summary


def _run(
    kind: str,
    module: str,
    config: TrainConfig,
    gpus: int | None,
    job_dir: str | None,
    pytorchjob: PyTorchJobSettings | None = None,
    slurm: SlurmSettings | None = None,
):
    directory = Path(job_dir) if job_dir else Workspace.resolve().run_dir(kind, config.run_name)
    directory.mkdir(parents=True, exist_ok=True)
    if config.metrics_path is None:
        config = config.model_copy(update={"metrics_path": str(directory / "metrics.jsonl")})
    if config.storage_args.workspace is None:  # the job opens the store of this workspace
        args = config.storage_args.model_copy(update={"workspace": str(Workspace.resolve().root)})
        config = config.model_copy(update={"storage_args": args})
    if pytorchjob is not None:
        from corpusforge.flows.k8s_training import job_name

        n = pytorchjob.nodes * pytorchjob.gpus_per_node
        name = job_name(config.run_name, kind)
        run_multinode(name, module, config.model_dump_json(indent=2), str(directory), pytorchjob)
    elif slurm is not None:
        n = slurm.nodes * slurm.gpus_per_node
        run_job(module, config.model_dump_json(indent=2), str(directory), n, slurm)
    else:
        n = visible_gpus() if gpus is None else gpus
        run_job(module, config.model_dump_json(indent=2), str(directory), n)
    summary = publish_metrics(kind, config.run_name, directory)
    audit(
        f"{kind}.run",
        f"run:{config.run_name}",
        counts={"steps": summary["steps"], "gpus": n},
        details={
            "preset": config.preset,
            "first_val_loss": summary["first_val_loss"],
            "last_val_loss": summary["last_val_loss"],
            "launcher": "pytorchjob" if pytorchjob else "slurm" if slurm else "local",
            **({"slurm_job": slurm.job_id, "nodes": slurm.nodes} if slurm else {}),
            **({"nodes": pytorchjob.nodes} if pytorchjob else {}),
        },
    )
    return summary


@flow(name="pretrain", log_prints=True)
def pretrain_flow(params: PretrainParams) -> dict[str, Any]:
    return _run(
        "pretrain",
        "corpusforge.model.pretrain",
        params.config,
        params.gpus,
        params.job_dir,
        params.pytorchjob,
        params.slurm,
    )


@flow(name="finetune", log_prints=True)
def finetune_flow(params: FinetuneParams) -> dict[str, Any]:
    return _run(
        "finetune",
        "corpusforge.model.sft",
        params.config,
        params.gpus,
        params.job_dir,
        params.pytorchjob,
        params.slurm,
    )


def run_pretrain(params: PretrainParams) -> dict[str, Any]:
    """Pretrain as a flow run: the job in a subprocess on this machine (CPU or its GPUs)."""
    return pretrain_flow(params)


def run_finetune(params: FinetuneParams) -> dict[str, Any]:
    return finetune_flow(params)
