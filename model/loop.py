"""The training loop shared by pretraining and fine-tuning, its evaluation and its metrics.

A `Job` says what to train (model, batches, validation data, what a checkpoint holds); `train`
runs it to `max_steps` in the nanoGPT shape: micro-batches with gradient accumulation, clipping,
an AdamW step on a warmup + cosine schedule, metrics (loss, lr, tokens/s, MFU) every `log_every`
steps, validation every `eval_every` and a checkpoint every `checkpoint_every`. `run_job` is the
whole life of one job process: runtime up, train, runtime down.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from corpusforge.core.errors import IntegrityError
from corpusforge.model.checkpoint import (
    ResumePoint,
    resume_training,
    save_training_checkpoint,
)
from corpusforge.model.config import TrainConfig
from corpusforge.model.optim import build_optimizer, build_scheduler
from corpusforge.model.runtime import (
    Runtime,
    no_grad_sync,
    setup_runtime,
    teardown_runtime,
    wrap_model,
)
from corpusforge.model.storage import CheckpointStorage

# bf16 dense peak per card (no sparsity), for MFU, matched against the CUDA device name in
# this order (the more specific names first). `peak_flops` in the config overrides it.
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("GH200", 989e12),
    ("H200", 989e12),
    ("H100", 989e12),  # SXM (the name says "HBM3")
    ("H800", 989e12),
    ("A100", 312e12),
    ("A800", 312e12),
)

StepHook = Callable[[dict[str, Any]], None]


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
    write_extra: Callable[[Path], None] | None = None  # more files for a checkpoint directory
    # the checkpoint to resume from when preparing the job already fetched it (for the
    # weights), so `resume_training` does not fetch and decrypt it a second time
    resume: ResumePoint | None = None


# --- metrics -------------------------------------------------------------------------------------


def peak_flops(config: TrainConfig, runtime: Runtime) -> float | None:
    if config.peak_flops:
        return config.peak_flops
    if runtime.device.type != "cuda":
        return None  # MFU is a GPU figure; CPUs have no comparable bf16 dense peak
    return peak_flops_for(torch.cuda.get_device_name(runtime.device))


def peak_flops_for(device_name: str) -> float | None:
    """The bf16 dense peak of a card by its CUDA name; None for a card not in the table."""
    return next((v for k, v in PEAK_BF16_FLOPS if k in device_name), None)


def flops_per_token(model: torch.nn.Module, seq_len: int) -> float:
    """Training FLOPs per token: matmuls + attention (PaLM appendix B), frozen weights included.

    A trained matrix costs 6 FLOPs per parameter and token (forward 2, backward 2 for the
    activation gradient and 2 for its own gradient); a frozen one (LoRA's base weights) 4: the
    forward, and the activation gradient the backward still carries through it down to the
    lowest adapter. The input embedding is a lookup, not a matmul: it is left out unless it is
    tied to the output projection, which is a real matmul and is counted once. Attention scores
    and values add 12·L·d·T (no weights; always forward and backward)."""
    cfg = model.config
    embedding = model.get_input_embeddings().weight
    trained = frozen = 0
    for p in {id(p): p for p in model.parameters()}.values():
        if p is embedding and not cfg.tie_word_embeddings:
            continue
        if p.requires_grad:
            trained += p.numel()
        else:
            frozen += p.numel()
    return 6 * trained + 4 * frozen + 12 * cfg.num_hidden_layers * cfg.hidden_size * seq_len


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


# --- evaluation and the loop ---------------------------------------------------------------------


@torch.no_grad()
def evaluate(model: torch.nn.Module, job: Job) -> float:
    model.eval()
    total = torch.zeros(2, device=job.runtime.device, dtype=torch.float64)
    for inputs, targets in job.val_data:
        inputs, targets = inputs.to(job.runtime.device), targets.to(job.runtime.device)
        loss = loss_sum(model, job, inputs, targets)
        total += torch.stack([loss.double(), (targets != -100).sum().double()])
    if job.runtime.distributed:
        dist.all_reduce(total)
    if hasattr(model, "reshard"):
        # FSDP2 keeps the root's parameters unsharded after a forward (backward would need
        # them); without a backward they stay so, and the optimizer's sharded parameters would
        # no longer be the module's (a checkpoint after an evaluation fails).
        model.reshard()
    model.train()
    return (total[0] / total[1].clamp(min=1)).item()


class Prefetcher:
    """The next micro-batch is drawn while the current step runs (one worker thread).

    On CUDA each batch is copied into pinned host memory by the worker and moved with
    `non_blocking=True`, so the copy overlaps compute. The data cursor a checkpoint records is
    the one after the last batch the loop *took*, not the one the worker has run ahead to."""

    def __init__(self, job: Job):
        self.job = job
        self.device = job.runtime.device
        self.pin = self.device.type == "cuda" and torch.cuda.is_available()
        self.vocab = job.raw_model.config.vocab_size
        self._state = job.data_state()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batches")
        self._pending: Future = self._pool.submit(self._produce)

    def _produce(self) -> tuple[torch.Tensor, torch.Tensor, int, dict[str, Any]]:
        inputs, targets = self.job.next_batch()
        if int(inputs.max()) >= self.vocab or int(inputs.min()) < 0:
            raise IntegrityError(f"token id outside the model vocabulary (0..{self.vocab - 1})")
        n_targets = int((targets != -100).sum())
        if self.pin:
            inputs, targets = inputs.pin_memory(), targets.pin_memory()
        return inputs, targets, n_targets, self.job.data_state()

    def next(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(inputs, targets) on the device, and the number of targets that count."""
        inputs, targets, n_targets, state = self._pending.result()
        self._pending = self._pool.submit(self._produce)
        self._state = state
        return (
            inputs.to(self.device, non_blocking=True),
            targets.to(self.device, non_blocking=True),
            n_targets,
        )

    def state(self) -> dict[str, Any]:
        return self._state

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def loss_sum(model: torch.nn.Module, job: Job, inputs: torch.Tensor, targets: torch.Tensor):
    """Summed cross-entropy over the targets that count (-100 is ignored).

    The training blocks (`blocks.CausalLM`) compute it inside their compiled forward, chunked so
    no full fp32 logits tensor exists; a Hugging Face model (LoRA runs) returns logits."""
    with job.runtime.autocast():
        if getattr(job.raw_model, "computes_loss", False):
            return model(inputs, targets)
        logits = model(input_ids=inputs).logits
    return F.cross_entropy(
        logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="sum"
    )


def train(job: Job, on_step: StepHook | None = None) -> dict[str, Any]:
    """Run (or resume) the job to `max_steps`; return the last metrics."""
    cfg, rt = job.config, job.runtime
    model = wrap_model(job.raw_model, cfg, rt)
    optimizer = build_optimizer(model, cfg, rt)
    scheduler = build_scheduler(optimizer, cfg)
    resume_from, step, tokens_seen = resume_training(job, model, optimizer, scheduler)

    metrics = Metrics(cfg.metrics_path, rt.is_main)
    # FLOPs of a micro-batch of B rows of width W: B·W·(per_token + attention·W)
    per_token = flops_per_token(job.raw_model, 0)
    attention = flops_per_token(job.raw_model, 1) - per_token
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
    if step == 0 and cfg.max_steps > 0 and job.val_data:
        val = evaluate(model, job)
        last = {"kind": "val", "step": 0, "val_loss": val, "val_ppl": math.exp(min(val, 50))}
        metrics.log(last)

    model.train()
    feed = Prefetcher(job)
    # Tokens (real padded widths) and FLOPs of this rank since the last sync, summed over ranks
    # only when a figure is logged or checkpointed (no per-step collective).
    pending = [0.0, 0.0]
    window_time, window_tokens, window_flops = 0.0, 0.0, 0.0  # training time only

    def sync() -> tuple[float, float]:
        counts = torch.tensor(pending, dtype=torch.float64, device=rt.device)
        if rt.distributed:
            dist.all_reduce(counts)
        pending[0] = pending[1] = 0.0
        return float(counts[0]), float(counts[1])

    try:
        while step < cfg.max_steps:
            t0 = time.perf_counter()
            batches = [feed.next() for _ in range(cfg.grad_accum_steps)]
            n_targets = sum(n for _, _, n in batches)
            step_loss = torch.zeros((), device=rt.device)
            for i, (inputs, targets, _) in enumerate(batches):
                with no_grad_sync(model, i == len(batches) - 1):
                    loss = loss_sum(model, job, inputs, targets) / max(n_targets, 1)
                    loss.backward()
                step_loss += loss.detach()
                rows, width = inputs.shape
                pending[0] += rows * width
                pending[1] += rows * width * (per_token + attention * width)
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

            record: dict[str, Any] = {"kind": "train", "step": step}
            logged = step % cfg.log_every == 0 or step == cfg.max_steps
            checkpoint = step % cfg.checkpoint_every == 0 or step == cfg.max_steps
            if logged or checkpoint or on_step:
                if rt.distributed:
                    dist.all_reduce(step_loss, op=dist.ReduceOp.AVG)
                loss_value = step_loss.item()  # waits for the GPU: the window's time is complete
                tokens, flops = sync()
                tokens_seen += int(tokens)
                window_time += time.perf_counter() - t0
                window_tokens += tokens
                window_flops += flops
                seconds = max(window_time, 1e-9)
                record |= {
                    "loss": loss_value,
                    "lr": lr,
                    "grad_norm": float(grad_norm),
                    "tokens_seen": tokens_seen,
                    "tokens_per_s": window_tokens / seconds,
                    "mfu": (window_flops / seconds / (peak * rt.world_size)) if peak else None,
                }
                if logged:
                    metrics.log(record)
                    window_time, window_tokens, window_flops = 0.0, 0.0, 0.0
            else:
                window_time += time.perf_counter() - t0
            if job.val_data and (step % cfg.eval_every == 0 or step == cfg.max_steps):
                val = evaluate(model, job)
                last = {
                    "kind": "val",
                    "step": step,
                    "val_loss": val,
                    "val_ppl": math.exp(min(val, 50)),
                }
                metrics.log(last)
            if checkpoint:
                save_training_checkpoint(
                    job, model, optimizer, scheduler, step, tokens_seen, last, feed.state()
                )
            if on_step:
                on_step(record)
    finally:
        feed.close()
        metrics.close()
    final = {k: v for k, v in last.items() if k != "kind"}
    return {"step": step, "tokens_seen": tokens_seen, **final}


def run_job(
    config: TrainConfig, prepare: Callable[[Runtime], Job], on_step: StepHook | None = None
) -> dict[str, Any]:
    """One job process: set up the runtime, build the job with `prepare`, train, tear down."""
    runtime = setup_runtime(config)
    try:
        return train(prepare(runtime), on_step)
    finally:
        teardown_runtime(runtime)
