"""Resumable checkpoints, written and read only through the store, sharded by the ranks.

A training checkpoint holds the weights and the optimizer state as `torch.distributed.checkpoint`
(DCP) shards (model/, optimizer/: every rank writes and stores its own), the Hugging Face config,
generation config and tokenizer files, the small training state in the spirit of torchtitan's
checkpointer: scheduler, step, tokens seen, data cursor and every rank's RNG states
(training_state.pt), and the run's config (train_config.json). Every rank encrypts its own shard
files as objects of the checkpoint (`put_part`); rank 0 commits them with its own files under one
sealed manifest. No file system is shared between the ranks.

`save_training_checkpoint` and `resume_training` are the training loop's two ends of it: one
writes every rank's state into a checkpoint, the other puts a checkpoint's state back, on any
number of processes, each rank reading only the byte ranges of the shards it needs.

The consolidated Hugging Face export (config.json + model.safetensors, what `from_pretrained`
loads) is a separate step: `export_checkpoint` (`corpusforge store export`), which every
consumer of weights (fine-tuning's base, evaluation, generation) goes through via
`fetch_checkpoint`. LoRA runs (DDP only, every rank holds the whole model) store the merged
export and the adapter directly: their frozen base is the `init_from` checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
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

from corpusforge.core.errors import ConfigError, CorpusforgeError, InputError, IntegrityError
from corpusforge.model.blocks import CausalLM
from corpusforge.model.config import PRESETS
from corpusforge.model.optim import load_optimizer_state
from corpusforge.model.runtime import Runtime
from corpusforge.model.storage import CheckpointStorage

if TYPE_CHECKING:
    from corpusforge.model.loop import Job

STATE_FILE = "training_state.pt"
MODEL_DIR = "model"  # torch.distributed.checkpoint files of the weights
SHARDS_DIR = "optimizer"  # torch.distributed.checkpoint files of the optimizer state
DCP_DIRS = (MODEL_DIR, SHARDS_DIR)
DCP_METADATA = ".metadata"
CONFIG_FILE = "train_config.json"
HF_WEIGHTS = "model.safetensors"
HF_FILES = ("config.json", HF_WEIGHTS)


def _is_shard(rel: str) -> bool:
    """A DCP data file (`model/__0_0.distcp`): read by byte ranges, never fetched whole."""
    return rel.split("/", 1)[0] in DCP_DIRS and rel.endswith(".distcp")


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
    _generation_config(GenerationConfig, model).save_pretrained(out_dir)


def _generation_config(cls: Any, model: torch.nn.Module) -> Any:
    return cls(
        eos_token_id=model.config.eos_token_id,
        pad_token_id=model.config.pad_token_id,
        do_sample=True,
        temperature=0.8,
        top_k=50,
        top_p=0.95,
        max_new_tokens=128,
    )


# --- reading -----------------------------------------------------------------------------------


class _StoreShardReader:
    """Builds a DCP `FileSystemReader` over a stored checkpoint's shard directory whose
    `.metadata` is fetched into `local` (a verified file: DCP unpickles it): the data files are
    read as byte ranges through `storage.open_ranges`, only the ranges this process's load plan
    asks for, each item decrypted when DCP reads it."""

    @staticmethod
    def make(storage: CheckpointStorage, name: str, local: Path, subdir: str, counter: dict):
        from torch.distributed.checkpoint import FileSystemReader
        from torch.distributed.checkpoint.filesystem import FileSystem

        class Files(FileSystem):
            @contextlib.contextmanager
            def create_stream(self, path, mode):  # noqa: ANN001, ANN202 (DCP's signature)
                path = Path(path)
                if mode == "rb" and path.suffix == ".distcp":
                    with storage.open_ranges(name, f"{subdir}/{path.name}") as ranges:
                        try:
                            yield ranges
                        finally:
                            counter["bytes"] = counter.get("bytes", 0) + ranges.bytes_read
                            counter["files"] = counter.get("files", 0) + 1
                else:
                    with super().create_stream(path, mode) as stream:
                        yield stream

        class Reader(FileSystemReader):
            def __init__(self) -> None:
                super().__init__(local)
                self.fs = Files()

            def read_data(self, plan, planner):  # noqa: ANN001, ANN202
                # In file order: each encrypted chunk is then decrypted once (the plan's own
                # order follows the state dict and would come back to chunks read before).
                where = self.storage_data

                def key(item):  # noqa: ANN001, ANN202
                    info = where[item.storage_index]
                    return info.relative_path, info.offset

                items = sorted(plan.items, key=key)
                return super().read_data(dataclasses.replace(plan, items=items), planner)

            def _slice_file(self, file, sinfo):  # noqa: ANN001, ANN202
                return io.BytesIO(file.read(sinfo.offset, sinfo.length))

        return Reader()


@contextlib.contextmanager
def _dcp_errors() -> Iterator[None]:
    """DCP reports a failure on any rank as a `CheckpointException` (a BaseException holding
    every rank's error): raise the cause instead, ours (a tampered shard's IntegrityError)
    first, so the job's last line names it."""
    from torch.distributed.checkpoint import CheckpointException

    try:
        yield
    except CheckpointException as exc:
        causes = [cause for cause, _ in exc.failures.values()]
        ours = [c for c in causes if isinstance(c, CorpusforgeError)]
        cause = (ours or causes or [None])[0]
        if cause is None:
            raise RuntimeError("torch.distributed.checkpoint failed") from exc
        raise cause from None


def _dcp_load(state: dict[str, Any], reader: Any, distributed: bool) -> None:
    import torch.distributed.checkpoint as dcp

    with warnings.catch_warnings(), _dcp_errors():
        if not distributed:  # dcp warns on every call that it runs in one process: asked for
            warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load(state, storage_reader=reader, no_dist=not distributed)


def _fetch_into(
    storage: CheckpointStorage, name: str, root: Path, files: Any, counter: dict | None = None
) -> None:
    """Fetch some files of `name` and add them to the private folder `root`."""
    with tempfile.TemporaryDirectory(prefix="ckpt-part-", dir=root.parent) as tmp:
        got = Path(storage.get_checkpoint(name, Path(tmp) / "files", files=files))
        for path in sorted(p for p in got.rglob("*") if p.is_file()):
            rel = path.relative_to(got)
            (root / rel).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(path, root / rel)
            if counter is not None:
                counter["bytes"] = counter.get("bytes", 0) + (root / rel).stat().st_size
                counter["files"] = counter.get("files", 0) + 1


def write_hf_weights(storage: CheckpointStorage, name: str, path: Path) -> None:
    """Consolidate a sharded checkpoint's weights: read every model shard of `name` (byte
    ranges, in this one process) into the training blocks built from `path`/config.json and
    write model.safetensors there in Hugging Face names."""
    from transformers import LlamaConfig

    model = _empty_training_model(LlamaConfig.from_pretrained(path, local_files_only=True))
    state = {"model": model.state_dict()}
    reader = _StoreShardReader.make(storage, name, path / MODEL_DIR, MODEL_DIR, {})
    _dcp_load(state, reader, distributed=False)
    model.load_state_dict(state["model"])
    model.save_pretrained(path)
    os.chmod(path / HF_WEIGHTS, 0o600)  # like every file the store decrypts


def fetch_checkpoint(
    storage: CheckpointStorage, name: str, dest: Path, *, weights: bool = True
) -> Path:
    """Fetch `name` into `dest` in Hugging Face layout (what consumers of the weights load):
    every file but the resumable state, the weights consolidated from the shards when the
    checkpoint is sharded (`write_hf_weights`). `weights=False`: configs and tokenizer only."""
    if not storage.exists(name):
        raise InputError(f"checkpoint not found in the store: {name}")

    def wanted(rel: str) -> bool:
        if _is_shard(rel) or rel == STATE_FILE or rel.startswith(f"{SHARDS_DIR}/"):
            return False
        return weights or rel != HF_WEIGHTS

    path = Path(storage.get_checkpoint(name, dest, files=wanted))
    if weights and (path / MODEL_DIR / DCP_METADATA).is_file() and not (path / HF_WEIGHTS).exists():
        write_hf_weights(storage, name, path)
    shutil.rmtree(path / MODEL_DIR, ignore_errors=True)
    needed = (*HF_FILES, CONFIG_FILE) if weights else ("config.json", CONFIG_FILE)
    missing = [f for f in needed if not (path / f).is_file()]
    if missing:
        raise IntegrityError(f"checkpoint {name} is incomplete: missing {', '.join(missing)}")
    return path


def export_checkpoint(storage: CheckpointStorage, name: str, dest: Path) -> Path:
    """The consolidated Hugging Face export of checkpoint `name` into `dest` (a new or empty
    folder): config.json, model.safetensors, generation config, tokenizer files, the LoRA
    adapter where there is one, and the run's config. Loads with `from_pretrained`."""
    return fetch_checkpoint(storage, name, dest)


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


def _empty_training_model(config: Any) -> CausalLM:
    """The training blocks with uninitialised weights (every one is loaded next)."""
    with torch.device("meta"):
        model = CausalLM(config)
    model.to_empty(device="cpu")
    model.reset_rope()
    return model


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
    """A fetched checkpoint (Hugging Face layout, `fetch_checkpoint`) in a temp dir that is
    removed on exit."""

    def __init__(self, storage: CheckpointStorage, name: str, *, weights: bool = True):
        self.storage, self.name, self.weights = storage, name, weights
        self._tmp: str | None = None

    def __enter__(self) -> Path:
        self._tmp = tempfile.mkdtemp(prefix="ckpt-fetch-")
        dest = Path(self._tmp) / "checkpoint"
        return fetch_checkpoint(self.storage, self.name, dest, weights=self.weights)

    def __exit__(self, *exc: object) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


# --- the training loop's checkpoints -----------------------------------------------------------


@contextlib.contextmanager
def _single_process_quiet(runtime: Runtime) -> Iterator[None]:
    """dcp warns on every call that it runs in one process, which is what no_dist asks."""
    with warnings.catch_warnings():
        if not runtime.distributed:
            warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def _save_planner() -> Any:
    """DCP's default save plan (deduplicated: a replicated tensor is written by one rank), with
    each rank's tensors written smallest first. A rank of an FSDP2 run reads its own slices and
    the replicated small tensors (AdamW's step counts) some other rank wrote: laid out together
    at the start of that rank's file, they cost a chunk or two of reading instead of one
    encrypted chunk per tensor, spread over the file."""
    from torch.distributed.checkpoint import DefaultSavePlanner

    class SmallFirst(DefaultSavePlanner):
        def create_local_plan(self):  # noqa: ANN202 (DCP's signature)
            plan = super().create_local_plan()
            items = sorted(plan.items, key=lambda item: item.tensor_storage_size() or 0)
            self.plan = dataclasses.replace(plan, items=items)
            return self.plan

    return SmallFirst()


def save_model_shards(model: torch.nn.Module, out: Path, runtime: Runtime) -> None:
    """Every rank writes its own shards of the weights (torch.distributed.checkpoint) into its
    own folder `out`: FSDP2 ranks their slices, DDP's replicated tensors once over all ranks
    (DCP's deduplicating save plan). Keys are parameter names: any world size loads them."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    with _single_process_quiet(runtime), _dcp_errors():
        dcp.save(
            {"model": get_model_state_dict(model)},
            checkpoint_id=str(out),
            planner=_save_planner(),
            no_dist=not runtime.distributed,
        )


def save_optimizer_shards(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, out: Path, runtime: Runtime
) -> None:
    """Every rank writes its own shards of the optimizer state (torch.distributed.checkpoint):
    FSDP2 ranks their slices, DDP's replicated tensors once. Keys are parameter names, so the
    shards load back on any number of processes."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    state = {"optimizer": get_optimizer_state_dict(model, optimizer)}
    with _single_process_quiet(runtime), _dcp_errors():
        dcp.save(
            state, checkpoint_id=str(out), planner=_save_planner(), no_dist=not runtime.distributed
        )


def _error_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def _put_parts(
    storage: CheckpointStorage, name: str, out: Path, metadata: dict[str, Any], rt: Runtime
) -> list[dict[str, Any]]:
    """Every rank but 0 stores its own shard files as uncommitted objects of `name`; rank 0
    gets every rank's entries (empty elsewhere). A failure on any rank fails every rank, and
    whatever the others stored is removed."""
    result: tuple[list[dict[str, Any]], str | None] = ([], None)
    if not rt.is_main and out.is_dir() and any(p.is_file() for p in out.rglob("*")):
        try:
            result = (storage.put_part(name, out, metadata), None)
        except Exception as exc:
            result = ([], _error_line(exc))
    gathered: list[Any] = [None] * rt.world_size
    dist.all_gather_object(gathered, result)  # under the process group's timeout
    failed = [(rank, err) for rank, (_, err) in enumerate(gathered) if err]
    parts = [entry for entries, _ in gathered for entry in entries]
    if failed:
        if rt.is_main:
            with contextlib.suppress(Exception):
                storage.discard_parts(name, parts)
        rank, err = failed[0]
        raise IntegrityError(f"checkpoint {name}: rank {rank} could not store its shards: {err}")
    return parts if rt.is_main else []


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

    Every rank writes its shards of the weights and the optimizer state into a private temp
    dir of its own and, under DDP/FSDP, stores them itself as encrypted objects of the
    checkpoint; rank 0 adds the Hugging Face config and tokenizer, the small training state
    (every rank's RNG, cursor, schedule) and the run's config, and commits everything under the
    checkpoint's sealed manifest. Every wait is a collective under the process group's timeout.
    LoRA jobs (`job.export_model`) store the merged export instead of weight shards.
    `data_state` is the data cursor after the last batch trained on (default: the job's)."""
    rt, cfg = job.runtime, job.config
    name = checkpoint_name(cfg.run_name, step)
    metadata = {
        **cfg.checkpoint_metadata,
        **job.metadata,
        "kind": job.kind,
        "run": cfg.run_name,
        "preset": cfg.preset,
        "step": step,
        "tokens_seen": tokens_seen,
        "val_loss": last.get("val_loss"),
    }
    sharded = job.export_model is None
    local = Path(tempfile.mkdtemp(prefix="ckpt-"))  # this rank's own, private (0700)
    out = local / "checkpoint"
    try:
        if sharded:
            save_model_shards(model, out / MODEL_DIR, rt)
        save_optimizer_shards(model, optimizer, out / SHARDS_DIR, rt)
        rng = [capture_rng()]
        parts: list[dict[str, Any]] = []
        if rt.distributed:
            gathered: list[Any] = [None] * rt.world_size
            dist.all_gather_object(gathered, rng[0])
            rng = gathered
            parts = _put_parts(job.storage, name, out, metadata, rt)
        failure: list[str | None] = [None]
        if rt.is_main:
            failure = ["rank 0 stopped before its commit"]  # until the commit returns
            try:
                if sharded:
                    write_hf_config(job.raw_model, job.tokenizer, out)
                else:
                    export, export_sd = job.export_model()
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
                job.storage.put_checkpoint(name, out, metadata, parts=parts or None)
                failure = [None]
            except Exception as exc:
                if parts:
                    with contextlib.suppress(Exception):
                        job.storage.discard_parts(name, parts)
                failure = [_error_line(exc)]
                raise
            finally:
                if rt.distributed:  # the others wait for the commit's outcome, not a barrier
                    dist.broadcast_object_list(failure, src=0)
            print(f"checkpoint {name}", flush=True)
        else:
            dist.broadcast_object_list(failure, src=0)
            if failure[0]:
                raise IntegrityError(f"checkpoint {name} was not committed: {failure[0]}")
    finally:
        shutil.rmtree(local, ignore_errors=True)
    return name


def write_hf_config(model: torch.nn.Module, tokenizer: Any, out: Path) -> None:
    """What the consolidated export needs besides the weights: config.json (LlamaForCausalLM),
    generation_config.json and the tokenizer files."""
    from transformers import GenerationConfig

    config = model.config.__class__.from_dict(model.config.to_dict())
    config.architectures = ["LlamaForCausalLM"]
    config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _generation_config(GenerationConfig, model).save_pretrained(out)


class ResumePoint:
    """A checkpoint to resume from: its small files fetched (training state, configs, the
    shards' DCP metadata), its shards read by byte ranges when they are loaded; the local
    files are removed by `close`. `fetched` counts what this process read (files, bytes)."""

    def __init__(self, storage: CheckpointStorage, name: str, preset: str):
        self.storage, self.name = storage, name
        self.fetched: dict[str, int] = {}
        self._tmp = tempfile.mkdtemp(prefix="ckpt-resume-")
        self.path = Path(self._tmp) / "checkpoint"
        try:
            if not storage.exists(name):
                raise InputError(f"checkpoint not found in the store: {name}")
            self.path.mkdir(mode=0o700)
            _fetch_into(
                storage,
                name,
                self.path,
                lambda rel: not _is_shard(rel) and rel != HF_WEIGHTS,
                self.fetched,
            )
            missing = [f for f in ("config.json", CONFIG_FILE) if not (self.path / f).is_file()]
            if missing:
                raise IntegrityError(
                    f"checkpoint {name} is incomplete: missing {', '.join(missing)}"
                )
            check_preset(self.path, name, preset)
            self.state = load_training_state(self.path)
        except BaseException:
            self.close()
            raise

    @property
    def sharded(self) -> bool:
        """The weights are DCP shards (else the HF export holds them: older and LoRA ones)."""
        return (self.path / MODEL_DIR / DCP_METADATA).is_file()

    def training_model(self) -> CausalLM:
        """The training blocks for this checkpoint: empty when the weights are shards (loaded
        after the model is wrapped, by `resume_training`), else read from the HF export."""
        if self.sharded:
            from transformers import LlamaConfig

            return _empty_training_model(LlamaConfig.from_pretrained(self.path))
        if not (self.path / HF_WEIGHTS).is_file():
            _fetch_into(self.storage, self.name, self.path, [HF_WEIGHTS], self.fetched)
        return load_training_model(self.path)

    def reader(self, subdir: str) -> Any:
        return _StoreShardReader.make(
            self.storage, self.name, self.path / subdir, subdir, self.fetched
        )

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)


def load_model_shards(model: torch.nn.Module, point: ResumePoint, runtime: Runtime) -> None:
    """Read the weights from the checkpoint's shards into this run's (wrapped) model, in its
    layout: FSDP2 ranks read their slices, DDP and one process full tensors."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, set_model_state_dict

    state = {"model": get_model_state_dict(model)}  # this run's layout, filled in place
    _dcp_load(state, point.reader(MODEL_DIR), runtime.distributed)
    set_model_state_dict(model, state["model"])


def load_optimizer_shards(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, point: ResumePoint, runtime: Runtime
) -> None:
    """Read the optimizer state from `save_optimizer_shards`' files, resharded for this run."""
    from torch.distributed.checkpoint.state_dict import (
        get_optimizer_state_dict,
        set_optimizer_state_dict,
    )

    state = {"optimizer": get_optimizer_state_dict(model, optimizer)}  # this run's layout
    _dcp_load(state, point.reader(SHARDS_DIR), runtime.distributed)
    set_optimizer_state_dict(model, optimizer, state["optimizer"])


def resume_training(
    job: Job, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> tuple[str | None, int, int]:
    """Restore the run's latest checkpoint, if it has one and `resume` is on: weights (when
    sharded), optimizer, schedule, data cursor, extra state and this rank's RNG. Returns
    (name, step, tokens seen)."""
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
        if point.sharded:
            load_model_shards(model, point, rt)
        if (point.path / SHARDS_DIR / DCP_METADATA).is_file():
            load_optimizer_shards(model, optimizer, point, rt)
        else:  # checkpoints before sharding: the full state inside training_state.pt
            load_optimizer_state(model, optimizer, state["optimizer"], job.raw_model)
    finally:
        point.close()
    print(
        f"resume rank {rt.rank}: read {point.fetched.get('bytes', 0)} bytes "
        f"({point.fetched.get('files', 0)} file reads) of {point.name}",
        flush=True,
    )
    scheduler.load_state_dict(state["scheduler"])
    job.load_data_state(state["data"])
    job.load_extra_state(state.get("extra", {}))
    restore_rng(state["rng"][rt.rank] if rt.rank < len(state["rng"]) else state["rng"][0])
    return point.name, state["step"], state["tokens_seen"]
