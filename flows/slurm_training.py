"""Slurm training as a Prefect flow run: `python -m corpusforge.flows.slurm_training CONFIG`.

infra/slurm/train.sbatch activates the environment and runs this module once, on the first node
of the allocation. It runs the `pretrain` (or `finetune`) flow, whose job is

    srun --kill-on-bad-exit=1 python -m torch.distributed.run --nnodes $SLURM_NNODES \
         --nproc-per-node G --rdzv-backend c10d --rdzv-endpoint MASTER:PORT \
         --rdzv-id $SLURM_JOB_ID -m corpusforge.model.pretrain --config <job dir>/config.json

so the Slurm job appears in the Prefect UI as a flow run (its log streamed, the loss curve and
metrics as artifacts) and in the audit log (`pretrain.run`, with the launcher and the job id),
like a run on a workstation or Kubernetes. Resubmitting the same config resumes the run.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from pydantic import Field

from corpusforge.core.errors import ConfigError, CorpusforgeError
from corpusforge.core.settings import StrictModel


class SlurmSettings(StrictModel):
    """The allocation the flow run trains on (read from the Slurm environment)."""

    job_id: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$")
    nodes: int = Field(..., ge=1)
    gpus_per_node: int = Field(..., ge=1)
    master_addr: str = Field(..., pattern=r"^[A-Za-z0-9_.:-]+$")
    master_port: int = Field(29500, ge=1, le=65535)
    python: str = Field(sys.executable, description="the environment's interpreter on every node")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SlurmSettings:
        env = dict(os.environ if env is None else env)
        missing = [k for k in ("SLURM_JOB_ID", "SLURM_NNODES", "MASTER_ADDR") if not env.get(k)]
        if missing:
            raise ConfigError(
                f"not inside a Slurm allocation ({', '.join(missing)} unset): submit with "
                "`sbatch infra/slurm/train.sbatch CONFIG.json`"
            )
        gpus = env.get("SLURM_GPUS_ON_NODE") or env.get("GPUS_PER_NODE") or "8"
        return cls(
            job_id=env["SLURM_JOB_ID"],
            nodes=int(env["SLURM_NNODES"]),
            gpus_per_node=int(gpus.split("(")[0].split(":")[-1]),
            master_addr=env["MASTER_ADDR"],
            master_port=int(env.get("MASTER_PORT", "29500")),
        )


def srun_command(module: str, config_path: str, s: SlurmSettings) -> list[str]:
    """One torchrun per node (srun --ntasks-per-node=1 from the batch script), c10d rendezvous
    at the first node; --kill-on-bad-exit stops every node when one fails."""
    return [
        "srun", "--kill-on-bad-exit=1", s.python, "-m", "torch.distributed.run",
        f"--nnodes={s.nodes}",
        f"--nproc-per-node={s.gpus_per_node}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={s.master_addr}:{s.master_port}",
        f"--rdzv-id={s.job_id}",
        "-m", module, "--config", config_path,
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="TrainConfig (pretrain) or SFTConfig (finetune) JSON")
    parser.add_argument("--kind", choices=("pretrain", "finetune"), default="pretrain")
    parser.add_argument("--job-dir", default=None, help="config + metrics (default: workspace)")
    args = parser.parse_args(argv)
    from pathlib import Path

    from corpusforge.core.console import quiet_console_tracebacks

    try:
        slurm = SlurmSettings.from_env()
        text = Path(args.config).read_text()
        from corpusforge.flows.train import (  # lazy: Prefect
            FinetuneParams,
            PretrainParams,
            run_finetune,
            run_pretrain,
        )
        from corpusforge.model.config import SFTConfig, TrainConfig

        quiet_console_tracebacks()
        # Run as `python -m`, this module is __main__: hand the settings over as data.
        allocation = slurm.model_dump()
        summary: dict[str, Any]
        if args.kind == "pretrain":
            config = TrainConfig.model_validate_json(text)
            summary = run_pretrain(
                PretrainParams(config=config, job_dir=args.job_dir, slurm=allocation)
            )
        else:
            sft = SFTConfig.model_validate_json(text)
            summary = run_finetune(
                FinetuneParams(config=sft, job_dir=args.job_dir, slurm=allocation)
            )
    except (CorpusforgeError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.kind} {summary['run']}: {summary['steps']} steps (Slurm job {slurm.job_id})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
