"""Resumable checkpoints in Hugging Face layout, written and read only through the store.

A checkpoint directory holds what `from_pretrained` needs (config.json, model.safetensors,
generation_config.json, tokenizer files) plus the training state in the spirit of torchtitan's
checkpointer: optimizer, scheduler, step, tokens seen, data cursor and every rank's RNG states
(training_state.pt), and the run's config (train_config.json). The directory is assembled locally
and handed to the `CheckpointStorage` as a whole, which stores it atomically.

`save_training_checkpoint` and `resume_training` are the training loop's two ends of it: one
gathers every rank's state into a checkpoint, the other puts a checkpoint's state back.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist

from corpusforge.core.errors import ConfigError, InputError, IntegrityError
from corpusforge.model.blocks import CausalLM
from corpusforge.model.config import PRESETS
from corpusforge.model.optim import load_optimizer_state, optimizer_state
from corpusforge.model.runtime import Runtime
from corpusforge.model.storage import CheckpointStorage

if TYPE_CHECKING:
    from corpusforge.model.loop import Job

STATE_FILE = "training_state.pt"
CONFIG_FILE = "train_config.json"
HF_FILES = ("config.json", "model.safetensors")


def checkpoint_name(run_name: str, step: int) -> str:
    return f"runs/{run_name}/step-{step:07d}"


def latest_checkpoint(storage: CheckpointStorage, run_name: str) -> str | None:
    entries = storage.list_checkpoints(prefix=f"runs/{run_name}/")
    return entries[-1]["name"] if entries else None


# --- RNG state as plain tensors (so the state file loads with weights_only=True) -------------


def capture_rng() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    _, mt, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": (version, torch.tensor(internal, dtype=torch.int64), gauss),
        "numpy": (torch.from_numpy(mt.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(int(x) for x in internal.tolist()), gauss))
    mt, pos, has_gauss, cached = state["numpy"]
    np.random.set_state(("MT19937", mt.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --- writing -----------------------------------------------------------------------------------


def export_hf(
    model: torch.nn.Module,
    tokenizer: Any,
    out_dir: Path,
    *,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> None:
    """config.json + model.safetensors + generation_config.json + tokenizer files."""
    from transformers import GenerationConfig
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a progress bar per checkpoint only clutters job logs
    if isinstance(model, CausalLM):
        model.save_pretrained(out_dir, state_dict=state_dict)  # HF names and layout
    else:
        model.save_pretrained(out_dir, state_dict=state_dict, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    GenerationConfig(
        eos_token_id=model.config.eos_token_id,
        pad_token_id=model.config.pad_token_id,
        do_sample=True,
        temperature=0.8,
        top_k=50,
        top_p=0.95,
        max_new_tokens=128,
    ).save_pretrained(out_dir)


def save_checkpoint(
    storage: CheckpointStorage,
    name: str,
    *,
    model: torch.nn.Module,
    tokenizer: Any,
    config: Any,
    training_state: dict[str, Any],
    metadata: dict[str, Any],
    state_dict: dict[str, torch.Tensor] | None = None,
    write_extra: Callable[[Path], None] | None = None,
) -> str:
    """Assemble the checkpoint in a private temp dir and store it as one atomic put."""
    with tempfile.TemporaryDirectory(prefix="ckpt-") as tmp:
        out = Path(tmp) / "checkpoint"
        out.mkdir()
        export_hf(model, tokenizer, out, state_dict=state_dict)
        if write_extra is not None:
            write_extra(out)
        torch.save(training_state, out / STATE_FILE)
        (out / CONFIG_FILE).write_text(config.model_dump_json(indent=2))
        return storage.put_checkpoint(name, out, metadata)


# --- reading -----------------------------------------------------------------------------------


def fetch_checkpoint(storage: CheckpointStorage, name: str, dest: Path) -> Path:
    """Fetch `name` into `dest` and check it is a complete checkpoint."""
    if not storage.exists(name):
        raise InputError(f"checkpoint not found in the store: {name}")
    path = Path(storage.get_checkpoint(name, dest))
    missing = [f for f in (*HF_FILES, CONFIG_FILE) if not (path / f).is_file()]
    if missing:
        raise IntegrityError(f"checkpoint {name} is incomplete: missing {', '.join(missing)}")
    return path


def checkpoint_preset(path: Path) -> str:
    return json.loads((path / CONFIG_FILE).read_text())["preset"]


def check_preset(path: Path, name: str, preset: str) -> None:
    """A checkpoint trained as another preset cannot be resumed or fine-tuned as this one."""
    saved = checkpoint_preset(path)
    arch = json.loads((path / "config.json").read_text())
    p = PRESETS[preset]
    if saved != preset or (arch["hidden_size"], arch["num_hidden_layers"]) != (
        p.hidden_size,
        p.num_hidden_layers,
    ):
        raise ConfigError(f"checkpoint {name} is from preset {saved!r}, this run is {preset!r}")


def load_training_state(path: Path) -> dict[str, Any]:
    if not (path / STATE_FILE).is_file():
        raise IntegrityError(f"checkpoint {path.name} has no training state to resume from")
    return torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)


def load_training_model(path: Path) -> CausalLM:
    """The checkpoint's weights in the training blocks (`blocks.CausalLM`), fp32."""
    return CausalLM.from_pretrained(path)


def load_model(path: Path, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """The checkpoint as transformers' model (generation, LoRA through peft)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        path,
        dtype=dtype,
        attn_implementation="sdpa",
        local_files_only=True,
        trust_remote_code=False,
        use_safetensors=True,
    )


class LocalCheckpoint:
    """A fetched checkpoint in a temp dir that is removed on exit."""

    def __init__(self, storage: CheckpointStorage, name: str):
        self.storage, self.name = storage, name
        self._tmp: str | None = None

    def __enter__(self) -> Path:
        self._tmp = tempfile.mkdtemp(prefix="ckpt-fetch-")
        return fetch_checkpoint(self.storage, self.name, Path(self._tmp) / "checkpoint")

    def __exit__(self, *exc: object) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


# --- the training loop's checkpoints -----------------------------------------------------------


def full_state_dicts(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, runtime: Runtime
) -> tuple[dict[str, torch.Tensor] | None, dict[str, Any]]:
    """Unsharded model state (None in one process: the raw model is exported as it is) and the
    optimizer state keyed by parameter name, gathered to CPU under DDP/FSDP."""
    optim_sd = optimizer_state(model, optimizer)
    if not runtime.distributed:
        return None, optim_sd
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=opts), optim_sd


def save_training_checkpoint(
    job: Job,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    step: int,
    tokens_seen: int,
    last: dict[str, Any],
    data_state: dict[str, Any] | None = None,
) -> str:
    """Store step `step` of `job` (rank 0 writes, every rank contributes its RNG state).

    `data_state` is the data cursor after the last batch trained on (default: the job's)."""
    rt, cfg = job.runtime, job.config
    model_sd, optim_sd = full_state_dicts(model, optimizer, rt)
    rng = [capture_rng()]
    if rt.distributed:
        gathered: list[Any] = [None] * rt.world_size
        dist.all_gather_object(gathered, rng[0])
        rng = gathered
    name = checkpoint_name(cfg.run_name, step)
    if rt.is_main:
        export, export_sd = job.export_model() if job.export_model else (job.raw_model, model_sd)
        save_checkpoint(
            job.storage,
            name,
            model=export,
            tokenizer=job.tokenizer,
            config=cfg,
            state_dict=export_sd,
            write_extra=job.write_extra,
            training_state={
                "step": step,
                "tokens_seen": tokens_seen,
                "optimizer": optim_sd,
                "scheduler": scheduler.state_dict(),
                "data": data_state if data_state is not None else job.data_state(),
                "rng": rng,
                "extra": job.extra_state(),
            },
            metadata={
                **cfg.checkpoint_metadata,
                **job.metadata,
                "kind": job.kind,
                "run": cfg.run_name,
                "preset": cfg.preset,
                "step": step,
                "tokens_seen": tokens_seen,
                "val_loss": last.get("val_loss"),
            },
        )
        print(f"checkpoint {name}", flush=True)
    if rt.distributed:
        dist.barrier()
    return name


def resume_training(
    job: Job, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> tuple[str | None, int, int]:
    """Restore the run's latest checkpoint, if it has one and `resume` is on: optimizer,
    schedule, data cursor, extra state and this rank's RNG. Returns (name, step, tokens seen)."""
    cfg, rt = job.config, job.runtime
    if job.resume is not None:  # read when the job was prepared: one fetch per rank
        resume_from, state = job.resume
        job.resume = None
    else:
        resume_from = latest_checkpoint(job.storage, cfg.run_name) if cfg.resume else None
        if not resume_from:
            return None, 0, 0
        with LocalCheckpoint(job.storage, resume_from) as path:
            check_preset(path, resume_from, cfg.preset)
            state = load_training_state(path)
    load_optimizer_state(model, optimizer, state["optimizer"], job.raw_model)
    scheduler.load_state_dict(state["scheduler"])
    job.load_data_state(state["data"])
    job.load_extra_state(state.get("extra", {}))
    restore_rng(state["rng"][rt.rank] if rt.rank < len(state["rng"]) else state["rng"][0])
    return resume_from, state["step"], state["tokens_seen"]
