"""Pretraining: `python -m corpusforge.model.pretrain --config run.json` (or under `torchrun`).

One code path for a laptop CPU and a GPU cluster: on CUDA it switches on bf16 autocast over fp32
master weights, `torch.compile`, fused AdamW and DDP (or FSDP2 with `fsdp=true`) when torchrun
starts several processes; on CPU the same loop runs with those switched off.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from corpusforge.core.errors import ConfigError, CorpusforgeError, IntegrityError
from corpusforge.core.settings import validation_message
from corpusforge.model.checkpoint import (
    LocalCheckpoint,
    capture_rng,
    check_preset,
    checkpoint_name,
    latest_checkpoint,
    load_model,
    load_training_state,
    restore_rng,
    save_checkpoint,
)
from corpusforge.model.config import TrainConfig, build_llama_config, padded_vocab_size
from corpusforge.model.data import TokenSource, WindowSampler, open_tokens, validation_batches
from corpusforge.model.storage import CheckpointStorage, open_storage

# bf16 dense peak per GPU (no sparsity), for MFU.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "GH200": 989e12, "A100": 312e12}

StepHook = Callable[[dict[str, Any]], None]


# --- runtime: device, precision, distributed ---------------------------------------------------


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    bf16: bool = False
    compile: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.bf16:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()


def setup_runtime(config: TrainConfig) -> Runtime:
    """Read torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE); pick device and precision."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise ConfigError("device=cuda requested but no CUDA device is visible")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        device = torch.device("cpu")
        if config.cpu_threads:
            torch.set_num_threads(config.cpu_threads)
    if world > 1 and not dist.is_initialized():
        if use_cuda:  # device_id binds NCCL to this rank's GPU (eager init)
            dist.init_process_group(backend="nccl", device_id=device)
        else:
            dist.init_process_group(backend="gloo")
    bf16 = config.precision == "bf16" or (config.precision == "auto" and use_cuda)
    compile_ = config.compile if config.compile is not None else use_cuda
    return Runtime(device, rank, local_rank, world, bf16, compile_)


def peak_flops(config: TrainConfig, runtime: Runtime) -> float | None:
    if config.peak_flops:
        return config.peak_flops
    if runtime.device.type != "cuda":
        return None  # MFU is a GPU figure; CPUs have no comparable bf16 dense peak
    name = torch.cuda.get_device_name(runtime.device)
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def flops_per_token(model: torch.nn.Module, seq_len: int) -> float:
    """6·N (forward + backward matmuls) + attention 12·L·d·T (PaLM appendix B).

    N excludes the input embedding lookup; with tied embeddings the same matrix is the output
    projection, a real matmul, so it is counted once."""
    cfg = model.config
    n = sum(p.numel() for p in model.parameters())
    if not cfg.tie_word_embeddings:
        n -= model.get_input_embeddings().weight.numel()
    return 6 * n + 12 * cfg.num_hidden_layers * cfg.hidden_size * seq_len


def lr_lambda(config: TrainConfig) -> Callable[[int], float]:
    """Linear warmup, then cosine decay to min_lr_ratio × lr at max_steps."""

    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / (config.warmup_steps + 1)
        span = max(1, config.max_steps - config.warmup_steps)
        progress = min(1.0, (step - config.warmup_steps) / span)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine

    return factor


# --- model wrapping -----------------------------------------------------------------------------


def wrap_model(model: torch.nn.Module, config: TrainConfig, runtime: Runtime) -> torch.nn.Module:
    """Compile, then DDP or FSDP2 across ranks. Returns the module the loop calls."""
    model.to(runtime.device)
    if runtime.distributed and config.fsdp:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        policy = mp if runtime.bf16 else MixedPrecisionPolicy()
        for block in model.model.layers:
            if runtime.compile:
                block.compile()
            fully_shard(block, mp_policy=policy)
        fully_shard(model, mp_policy=policy)
        return model
    if runtime.compile:
        model = torch.compile(model)
    if runtime.distributed:
        from torch.nn.parallel import DistributedDataParallel

        ids = [runtime.local_rank] if runtime.device.type == "cuda" else None
        model = DistributedDataParallel(model, device_ids=ids)
    return model


def build_optimizer(
    model: torch.nn.Module, config: TrainConfig, runtime: Runtime
) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices only (not norms), fused kernels on GPU."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups,
        lr=config.lr,
        betas=(config.beta1, config.beta2),
        fused=runtime.device.type == "cuda",
    )


def full_state_dicts(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, runtime: Runtime
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Unsharded model and optimizer state (gathered to CPU under DDP/FSDP)."""
    if not runtime.distributed:
        return None, optimizer.state_dict()  # type: ignore[return-value]
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_state_dict(model, optimizer, options=opts)


def load_optimizer_state(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict, runtime: Runtime
) -> None:
    if not runtime.distributed:
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    opts = StateDictOptions(full_state_dict=True, broadcast_from_rank0=False)
    set_optimizer_state_dict(model, optimizer, state, options=opts)


def no_grad_sync(
    model: torch.nn.Module, last_micro_step: bool
) -> contextlib.AbstractContextManager:
    """Skip the gradient all-reduce on all but the last micro-step of an accumulation."""
    if hasattr(model, "no_sync") and not last_micro_step:
        return model.no_sync()
    if hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        model.set_requires_gradient_sync(last_micro_step)
    return contextlib.nullcontext()


# --- the loop ----------------------------------------------------------------------------------


@dataclass
class Job:
    """Everything the loop needs; pretraining and fine-tuning fill it differently."""

    config: TrainConfig
    runtime: Runtime
    storage: CheckpointStorage
    raw_model: torch.nn.Module  # unwrapped: exported, counted, saved
    tokenizer: Any
    next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]]
    val_data: list[tuple[torch.Tensor, torch.Tensor]]
    data_state: Callable[[], dict[str, Any]]
    load_data_state: Callable[[dict[str, Any]], None]
    kind: str = "pretrain"
    metadata: dict[str, Any] = field(default_factory=dict)  # lineage for the store
    export_model: Callable[[], tuple[torch.nn.Module, dict | None]] | None = None
    extra_state: Callable[[], dict[str, Any]] = field(default=lambda: {})
    load_extra_state: Callable[[dict[str, Any]], None] = field(default=lambda s: None)


class Metrics:
    """Metrics to stdout (one line each) and to a JSONL file, rank 0 only."""

    def __init__(self, path: str | None, enabled: bool):
        self.enabled = enabled
        self.file = open(path, "a", encoding="utf-8") if path and enabled else None  # noqa: SIM115

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        shown = " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()
        )
        print(shown, flush=True)
        if self.file:
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file:
            self.file.close()


@torch.no_grad()
def evaluate(model: torch.nn.Module, job: Job) -> float:
    model.eval()
    total = torch.zeros(2, device=job.runtime.device, dtype=torch.float64)
    for inputs, targets in job.val_data:
        inputs, targets = inputs.to(job.runtime.device), targets.to(job.runtime.device)
        with job.runtime.autocast():
            logits = model(input_ids=inputs).logits
        loss = F.cross_entropy(
            logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="sum"
        )
        total += torch.stack([loss.double(), (targets != -100).sum().double()])
    if job.runtime.distributed:
        dist.all_reduce(total)
    model.train()
    return (total[0] / total[1].clamp(min=1)).item()


def _micro_batches(job: Job) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    vocab = job.raw_model.config.vocab_size
    for _ in range(job.config.grad_accum_steps):
        inputs, targets = job.next_batch()
        if int(inputs.max()) >= vocab or int(inputs.min()) < 0:
            raise IntegrityError(f"token id outside the model vocabulary (0..{vocab - 1})")
        yield inputs, targets


def train(job: Job, on_step: StepHook | None = None) -> dict[str, Any]:
    """Run (or resume) the job to `max_steps`; return the last metrics."""
    cfg, rt = job.config, job.runtime
    model = wrap_model(job.raw_model, cfg, rt)
    optimizer = build_optimizer(model, cfg, rt)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg))
    step, tokens_seen = 0, 0

    resume_from = latest_checkpoint(job.storage, cfg.run_name) if cfg.resume else None
    if resume_from:
        with LocalCheckpoint(job.storage, resume_from) as path:
            check_preset(path, resume_from, cfg.preset)
            state = load_training_state(path)
        load_optimizer_state(model, optimizer, state["optimizer"], rt)
        scheduler.load_state_dict(state["scheduler"])
        job.load_data_state(state["data"])
        job.load_extra_state(state.get("extra", {}))
        restore_rng(state["rng"][rt.rank] if rt.rank < len(state["rng"]) else state["rng"][0])
        step, tokens_seen = state["step"], state["tokens_seen"]

    metrics = Metrics(cfg.metrics_path, rt.is_main)
    fpt = flops_per_token(job.raw_model, cfg.block_size)
    peak = peak_flops(cfg, rt)
    tokens_per_step = cfg.micro_batch_size * cfg.block_size * cfg.grad_accum_steps * rt.world_size
    if rt.is_main:
        n_params = sum(p.numel() for p in job.raw_model.parameters())
        print(
            f"{job.kind} {cfg.run_name}: preset={cfg.preset} params={n_params / 1e6:.2f}M "
            f"device={rt.device} world={rt.world_size} bf16={rt.bf16} compile={rt.compile} "
            f"tokens/step={tokens_per_step} "
            + (f"resumed from {resume_from}" if resume_from else "fresh start"),
            flush=True,
        )
    last: dict[str, Any] = {}
    if step == 0 and cfg.max_steps > 0:
        val = evaluate(model, job)
        last = {"kind": "val", "step": 0, "val_loss": val, "val_ppl": math.exp(min(val, 50))}
        metrics.log(last)

    model.train()
    window_time, window_tokens = 0.0, 0  # training time only: evals and checkpoints excluded
    while step < cfg.max_steps:
        t0 = time.perf_counter()
        batches = list(_micro_batches(job))
        n_targets = sum(int((t != -100).sum()) for _, t in batches)
        step_loss = torch.zeros((), device=rt.device)
        for i, (inputs, targets) in enumerate(batches):
            inputs, targets = inputs.to(rt.device), targets.to(rt.device)
            with no_grad_sync(model, i == len(batches) - 1):
                with rt.autocast():
                    logits = model(input_ids=inputs).logits
                loss = F.cross_entropy(
                    logits.float().flatten(0, 1),
                    targets.flatten(),
                    ignore_index=-100,
                    reduction="sum",
                ) / max(n_targets, 1)
                loss.backward()
            step_loss += loss.detach()
        grad_norm = (
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            if cfg.grad_clip > 0
            else torch.zeros(())
        )
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        tokens_seen += tokens_per_step
        window_tokens += tokens_per_step

        record: dict[str, Any] = {"kind": "train", "step": step}
        if step % cfg.log_every == 0 or step == cfg.max_steps or on_step:
            if rt.distributed:
                dist.all_reduce(step_loss, op=dist.ReduceOp.AVG)
            loss_value = step_loss.item()  # waits for the GPU: the window's time is complete
            window_time += time.perf_counter() - t0
            tps = window_tokens / max(window_time, 1e-9)
            record |= {
                "loss": loss_value,
                "lr": lr,
                "grad_norm": float(grad_norm),
                "tokens_seen": tokens_seen,
                "tokens_per_s": tps,
                "mfu": (fpt * tps / (peak * rt.world_size)) if peak else None,
            }
            if step % cfg.log_every == 0 or step == cfg.max_steps:
                metrics.log(record)
                window_time, window_tokens = 0.0, 0
        else:
            window_time += time.perf_counter() - t0
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            val = evaluate(model, job)
            last = {"kind": "val", "step": step, "val_loss": val, "val_ppl": math.exp(min(val, 50))}
            metrics.log(last)
        if step % cfg.checkpoint_every == 0 or step == cfg.max_steps:
            _checkpoint(job, model, optimizer, scheduler, step, tokens_seen, last)
        if on_step:
            on_step(record)
    metrics.close()
    final = {k: v for k, v in last.items() if k != "kind"}
    return {"step": step, "tokens_seen": tokens_seen, **final}


def _checkpoint(job, model, optimizer, scheduler, step, tokens_seen, last) -> str:
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
            training_state={
                "step": step,
                "tokens_seen": tokens_seen,
                "optimizer": optim_sd,
                "scheduler": scheduler.state_dict(),
                "data": job.data_state(),
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


# --- pretraining -------------------------------------------------------------------------------


def check_vocab(tokenizer: Any, source: TokenSource, model_vocab: int | None = None) -> None:
    """Tokenizer, shards and model must agree on the vocabulary before any compute."""
    if len(tokenizer) != source.vocab_size:
        raise ConfigError(
            f"tokenizer has {len(tokenizer)} tokens but the shards were encoded with "
            f"{source.vocab_size}"
        )
    if model_vocab is not None and model_vocab != padded_vocab_size(source.vocab_size):
        raise ConfigError(
            f"model vocabulary {model_vocab} does not fit the shards' {source.vocab_size} tokens "
            f"(expected {padded_vocab_size(source.vocab_size)})"
        )


def prepare_pretrain(
    config: TrainConfig,
    storage: CheckpointStorage,
    runtime: Runtime,
    sources: tuple[TokenSource, TokenSource] | None = None,
) -> Job:
    """Open and check shards, tokenizer and any checkpoint; build the model. No training yet.

    `sources` (train, val) replaces reading `config.data` with the reader of
    `corpusforge.pipeline.tokenize`."""
    from transformers import AutoTokenizer, LlamaForCausalLM

    model = None
    resume_from = latest_checkpoint(storage, config.run_name) if config.resume else None
    if resume_from:  # first: a checkpoint of another preset fails before any data is read
        with LocalCheckpoint(storage, resume_from) as path:
            check_preset(path, resume_from, config.preset)
            model = load_model(path)
    if sources is None:
        sources = open_tokens(config.data, "train"), open_tokens(config.data, "val")
    train_src, val_src = sources
    if val_src.vocab_size != train_src.vocab_size:
        raise ConfigError("train and val shards were encoded with different vocabularies")
    tokenizer = AutoTokenizer.from_pretrained(
        train_src.tokenizer_dir, local_files_only=True, trust_remote_code=False
    )
    check_vocab(tokenizer, train_src)
    sampler = WindowSampler(
        train_src,
        config.block_size,
        config.micro_batch_size,
        seed=config.seed,
        rank=runtime.rank,
        world_size=runtime.world_size,
    )
    val_data = validation_batches(
        val_src,
        config.block_size,
        config.micro_batch_size,
        config.eval_batches,
        rank=runtime.rank,
        world_size=runtime.world_size,
    )
    if model is not None:
        check_vocab(tokenizer, train_src, model.config.vocab_size)
    else:
        torch.manual_seed(config.seed)
        llama = build_llama_config(
            config.preset, train_src.vocab_size, eot_id=train_src.eot_id, pad_id=train_src.pad_id
        )
        model = LlamaForCausalLM(llama)
    torch.manual_seed(config.seed + runtime.rank)
    return Job(
        config=config,
        runtime=runtime,
        storage=storage,
        raw_model=model,
        tokenizer=tokenizer,
        next_batch=sampler.next_batch,
        val_data=val_data,
        data_state=sampler.state_dict,
        load_data_state=sampler.load_state_dict,
        metadata={"token_manifest_sha256": train_src.manifest_sha256},
    )


def pretrain(
    config: TrainConfig,
    storage: CheckpointStorage,
    on_step: StepHook | None = None,
    sources: tuple[TokenSource, TokenSource] | None = None,
) -> dict[str, Any]:
    """Pretrain (or resume) `config.run_name`; checkpoints go to `storage`."""
    runtime = setup_runtime(config)
    try:
        return train(prepare_pretrain(config, storage, runtime, sources), on_step)
    finally:
        if runtime.distributed and dist.is_initialized():
            dist.destroy_process_group()


# --- command line ------------------------------------------------------------------------------


def cli(argv: list[str] | None, config_cls: type[TrainConfig], run: Callable) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON file with the run's config")
    args = parser.parse_args(argv)
    from pydantic import ValidationError

    try:
        config = config_cls.model_validate_json(Path(args.config).read_text())
    except OSError as exc:
        print(f"error: cannot read config {args.config}: {exc.strerror}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        reason = validation_message(exc, config_cls)
        print(f"error: invalid config {args.config}: {reason}", file=sys.stderr)
        return 2
    try:
        run(config, open_storage(config.storage, config.storage_args))
    except CorpusforgeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli(argv, TrainConfig, pretrain)


if __name__ == "__main__":
    sys.exit(main())
