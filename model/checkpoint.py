"""Resumable checkpoints in Hugging Face layout, written and read only through the store.

A checkpoint directory holds what `from_pretrained` needs (config.json, model.safetensors,
generation_config.json, tokenizer files: the consolidated export), the optimizer state as
`torch.distributed.checkpoint` shards that every rank writes itself (optimizer/), the small
training state in the spirit of torchtitan's checkpointer: scheduler, step, tokens seen, data
cursor and every rank's RNG states (training_state.pt), and the run's config
(train_config.json). The directory is assembled in a staging dir and handed to the
`CheckpointStorage` as a whole, which stores every file as an encrypted object under one sealed
manifest, atomically.

`save_training_checkpoint` and `resume_training` are the training loop's two ends of it: one
writes every rank's state into a checkpoint, the other puts a checkpoint's state back, on any
number of processes.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist

from corpusforge.core.errors import ConfigError, InputError, IntegrityError
from corpusforge.model.blocks import CausalLM
from corpusforge.model.config import PRESETS
from corpusforge.model.optim import load_optimizer_state
from corpusforge.model.runtime import Runtime
from corpusforge.model.storage import CheckpointStorage

if TYPE_CHECKING:
    from corpusforge.model.loop import Job

STATE_FILE = "training_state.pt"
SHARDS_DIR = "optimizer"  # torch.distributed.checkpoint files of the optimizer state
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


def full_model_state(model: torch.nn.Module, runtime: Runtime) -> dict[str, torch.Tensor] | None:
    """The consolidated weights for the HF export, gathered to CPU under DDP/FSDP (None in one
    process: the raw model is exported as it is)."""
    if not runtime.distributed:
        return None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=opts)


def _staging_dir(runtime: Runtime) -> Path:
    """A temp dir made by rank 0 and named to every rank: the ranks write their shards into
    it. (One node, or a temp dir on a filesystem every node sees: TMPDIR.)"""
    made = [tempfile.mkdtemp(prefix="ckpt-") if runtime.is_main else None]
    if runtime.distributed:
        dist.broadcast_object_list(made, src=0)
    return Path(made[0])


@contextlib.contextmanager
def _single_process_quiet(runtime: Runtime) -> Iterator[None]:
    """dcp warns on every call that it runs in one process, which is what no_dist asks."""
    with warnings.catch_warnings():
        if not runtime.distributed:
            warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def save_optimizer_shards(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, out: Path, runtime: Runtime
) -> None:
    """Every rank writes its own shards of the optimizer state (torch.distributed.checkpoint):
    FSDP2 ranks their slices, DDP's replicated tensors once. Keys are parameter names, so the
    shards load back on any number of processes."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    state = {"optimizer": get_optimizer_state_dict(model, optimizer)}
    with _single_process_quiet(runtime):
        dcp.save(state, checkpoint_id=str(out), no_dist=not runtime.distributed)


def load_optimizer_shards(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, shards: Path, runtime: Runtime
) -> None:
    """Read the optimizer state from `save_optimizer_shards`' files, resharded for this run."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import (
        get_optimizer_state_dict,
        set_optimizer_state_dict,
    )

    state = {"optimizer": get_optimizer_state_dict(model, optimizer)}  # this run's layout
    with _single_process_quiet(runtime):
        dcp.load(state, checkpoint_id=str(shards), no_dist=not runtime.distributed)
    set_optimizer_state_dict(model, optimizer, state["optimizer"])


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
    """Store step `step` of `job`.

    Every rank writes its shards of the optimizer state into a shared staging dir; the weights
    are consolidated for the HF export (a separate step: gathered to rank 0 under DDP/FSDP);
    rank 0 adds the small training state (every rank's RNG, cursor, schedule) and puts the
    directory, every shard file an encrypted object under the checkpoint's sealed manifest.
    `data_state` is the data cursor after the last batch trained on (default: the job's)."""
    rt, cfg = job.runtime, job.config
    name = checkpoint_name(cfg.run_name, step)
    staging = _staging_dir(rt)
    out = staging / "checkpoint"
    try:
        save_optimizer_shards(model, optimizer, out / SHARDS_DIR, rt)
        model_sd = full_model_state(model, rt)
        rng = [capture_rng()]
        if rt.distributed:
            gathered: list[Any] = [None] * rt.world_size
            dist.all_gather_object(gathered, rng[0])
            rng = gathered
        if rt.is_main:
            export, export_sd = (
                job.export_model() if job.export_model else (job.raw_model, model_sd)
            )
            export_hf(export, job.tokenizer, out, state_dict=export_sd)
            if job.write_extra is not None:
                job.write_extra(out)
            training_state = {
                "step": step,
                "tokens_seen": tokens_seen,
                "scheduler": scheduler.state_dict(),
                "data": data_state if data_state is not None else job.data_state(),
                "rng": rng,
                "extra": job.extra_state(),
                "world_size": rt.world_size,
            }
            torch.save(training_state, out / STATE_FILE)
            (out / CONFIG_FILE).write_text(cfg.model_dump_json(indent=2))
            job.storage.put_checkpoint(
                name,
                out,
                {
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
    finally:
        if rt.is_main:
            shutil.rmtree(staging, ignore_errors=True)
    return name


class ResumePoint:
    """A fetched checkpoint to resume from: its small training state, and its directory (kept
    until the optimizer shards are read) removed by `close`."""

    def __init__(self, storage: CheckpointStorage, name: str, preset: str):
        self.name = name
        self._local = LocalCheckpoint(storage, name)
        self.path = self._local.__enter__()
        try:
            check_preset(self.path, name, preset)
            self.state = load_training_state(self.path)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._local.__exit__(None, None, None)


def resume_training(
    job: Job, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> tuple[str | None, int, int]:
    """Restore the run's latest checkpoint, if it has one and `resume` is on: optimizer,
    schedule, data cursor, extra state and this rank's RNG. Returns (name, step, tokens seen)."""
    cfg, rt = job.config, job.runtime
    point = job.resume  # fetched when the job was prepared: one fetch per rank
    job.resume = None
    if point is None:
        resume_from = latest_checkpoint(job.storage, cfg.run_name) if cfg.resume else None
        if not resume_from:
            return None, 0, 0
        point = ResumePoint(job.storage, resume_from, cfg.preset)
    try:
        state = point.state
        if (point.path / SHARDS_DIR).is_dir():
            load_optimizer_shards(model, optimizer, point.path / SHARDS_DIR, rt)
        else:  # checkpoints before sharding: the full state inside training_state.pt
            load_optimizer_state(model, optimizer, state["optimizer"], job.raw_model)
    finally:
        point.close()
    scheduler.load_state_dict(state["scheduler"])
    job.load_data_state(state["data"])
    job.load_extra_state(state.get("extra", {}))
    restore_rng(state["rng"][rt.rank] if rt.rank < len(state["rng"]) else state["rng"][0])
    return point.name, state["step"], state["tokens_seen"]
