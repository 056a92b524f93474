"""`corpusforge train | finetune | generate`: pretraining and fine-tuning jobs, and sampling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from corpusforge.commands._common import WorkspaceOption, fail, flows_imported, use_workspace
from corpusforge.core.settings import validation_message


def _config(cls: type, config_file: Path | None, values: dict[str, Any]):
    """A config from --config (JSON) with the command-line options laid over it."""
    from pydantic import ValidationError

    try:
        base = json.loads(config_file.read_text(encoding="utf-8")) if config_file else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"--config {config_file}: cannot read a JSON object ({type(exc).__name__})")
    if not isinstance(base, dict):
        fail(f"--config {config_file}: expected a JSON object of settings")
    base.update({k: v for k, v in values.items() if v is not None})
    try:
        return cls.model_validate(base)
    except ValidationError as exc:
        fail(f"invalid config: {validation_message(exc, cls)}")


def train(
    data: str = typer.Option(None, help="token shard directory (corpusforge tokenize output)"),
    preset: str = typer.Option(None, help="tiny | 124m | 350m | 1b"),
    run_name: str = typer.Option(None, help="checkpoints go to runs/<run-name>/step-N"),
    max_steps: int = typer.Option(None),
    micro_batch_size: int = typer.Option(None),
    grad_accum_steps: int = typer.Option(None),
    seq_len: int = typer.Option(None),
    lr: float = typer.Option(None),
    gpus: int = typer.Option(None, help="processes; default: visible GPUs (0 = CPU)"),
    config: Path = typer.Option(None, help="JSON TrainConfig; options override it"),
    workspace: WorkspaceOption = None,
) -> None:
    """Pretrain (or resume) a model on token shards, as a Prefect flow run."""
    use_workspace(workspace)
    from corpusforge.flows.train import PretrainParams, run_pretrain  # lazy: Prefect
    from corpusforge.model.config import TrainConfig  # lazy: pydantic

    flows_imported()

    values = dict(
        data=data,
        preset=preset,
        run_name=run_name,
        max_steps=max_steps,
        micro_batch_size=micro_batch_size,
        grad_accum_steps=grad_accum_steps,
        seq_len=seq_len,
        lr=lr,
    )
    cfg = _config(TrainConfig, config, values)
    summary = run_pretrain(PretrainParams(config=cfg, gpus=gpus))
    typer.echo(json.dumps(summary))


def finetune(
    data: str = typer.Option(None, help="prompt/response or chat `messages` JSONL"),
    init_from: str = typer.Option(None, help="stored checkpoint to start from"),
    preset: str = typer.Option(None),
    run_name: str = typer.Option(None),
    max_steps: int = typer.Option(None),
    micro_batch_size: int = typer.Option(None),
    lr: float = typer.Option(None),
    lora_rank: int = typer.Option(None, help="train LoRA adapters of this rank (merged on export)"),
    lora_alpha: float = typer.Option(16.0),
    lora_targets: str = typer.Option("q_proj,k_proj,v_proj,o_proj"),
    gpus: int = typer.Option(None),
    config: Path = typer.Option(None, help="JSON SFTConfig; options override it"),
    workspace: WorkspaceOption = None,
) -> None:
    """Instruction fine-tuning from a stored checkpoint, as a Prefect flow run."""
    use_workspace(workspace)
    from corpusforge.flows.train import FinetuneParams, run_finetune  # lazy: Prefect
    from corpusforge.model.config import SFTConfig  # lazy: pydantic

    flows_imported()

    lora = (
        {"rank": lora_rank, "alpha": lora_alpha, "target_modules": lora_targets.split(",")}
        if lora_rank
        else None
    )
    values = dict(
        data=data,
        init_from=init_from,
        preset=preset,
        run_name=run_name,
        max_steps=max_steps,
        micro_batch_size=micro_batch_size,
        lr=lr,
        lora=lora,
    )
    cfg = _config(SFTConfig, config, values)
    summary = run_finetune(FinetuneParams(config=cfg, gpus=gpus))
    typer.echo(json.dumps(summary))


def generate(
    checkpoint: str = typer.Option(..., help="stored checkpoint name, e.g. runs/x/step-0000100"),
    prompt: str = typer.Option(...),
    temperature: float = typer.Option(0.8, min=0.0),
    top_k: int = typer.Option(50, min=0, help="0 disables"),
    top_p: float = typer.Option(0.95, min=0.0, max=1.0),
    seed: int = typer.Option(0),
    max_new_tokens: int = typer.Option(64, min=1),
    raw: bool = typer.Option(False, help="plain continuation instead of a chat turn"),
    workspace: WorkspaceOption = None,
) -> None:
    """Sample a completion from a stored checkpoint (reads the store as $CORPUSFORGE_TOKEN)."""
    ws = use_workspace(workspace)
    from corpusforge.model.generate import generate as sample_completion  # lazy: torch
    from corpusforge.model.store import open_store  # lazy: SQLAlchemy, cryptography

    text = sample_completion(
        open_store(ws),
        checkpoint,
        prompt,
        chat=not raw,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_k=top_k or None,
        top_p=top_p,
        seed=seed,
    )
    typer.echo(text)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("finetune")(finetune)
    app.command("generate")(generate)
