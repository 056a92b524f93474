"""`corpusforge align`: preference tuning (DPO, or a reward model) from a stored checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from corpusforge.commands._common import WorkspaceOption, fail, flows_imported, use_workspace
from corpusforge.commands.train import _config


def align(
    data: str = typer.Option(None, help="preference JSONL: prompt/chosen/rejected or chat"),
    init_from: str = typer.Option(None, help="stored (fine-tuned) checkpoint to start from"),
    run_name: str = typer.Option(None, help="checkpoints go to runs/<run-name>/step-N"),
    method: str = typer.Option(None, help="dpo (default) | reward (reward model for RLHF)"),
    beta: float = typer.Option(None, help="DPO beta (default 0.1)"),
    max_steps: int = typer.Option(None),
    micro_batch_size: int = typer.Option(None),
    lr: float = typer.Option(None),
    lora_rank: int = typer.Option(None, help="train LoRA adapters of this rank (merged on export)"),
    lora_alpha: float = typer.Option(16.0),
    lora_targets: str = typer.Option("q_proj,k_proj,v_proj,o_proj"),
    pii_mode: str = typer.Option("full", help="PII stage on the pairs: fast | full"),
    gpus: int = typer.Option(None, help="processes; default: visible GPUs (0 = CPU)"),
    config: Path = typer.Option(None, help="JSON AlignConfig; options override it"),
    workspace: WorkspaceOption = None,
) -> None:
    """DPO (TRL) on PII-scrubbed preference pairs from a stored checkpoint, as a flow run;
    restarting the same run name resumes it."""
    use_workspace(workspace)
    from pydantic import ValidationError

    from corpusforge.flows.align import AlignParams, run_align  # lazy: Prefect
    from corpusforge.model.align import AlignConfig  # lazy: torch
    from corpusforge.pipeline.pii.config import PiiConfig

    flows_imported()
    lora = (
        {"rank": lora_rank, "alpha": lora_alpha, "target_modules": lora_targets.split(",")}
        if lora_rank
        else None
    )
    values = dict(
        data=data,
        init_from=init_from,
        run_name=run_name,
        method=method,
        beta=beta,
        max_steps=max_steps,
        micro_batch_size=micro_batch_size,
        lr=lr,
        lora=lora,
    )
    cfg = _config(AlignConfig, config, values)
    try:
        pii = PiiConfig(mode=pii_mode)
    except ValidationError:
        fail(f"--pii-mode {pii_mode!r}: expected fast or full")
    summary = run_align(AlignParams(config=cfg, pii=pii, gpus=gpus))
    typer.echo(json.dumps(summary))


def register(app: typer.Typer) -> None:
    app.command("align")(align)
