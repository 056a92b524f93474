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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from corpusforge.core.errors import IntegrityError
from corpusforge.model.checkpoint import resume_training, save_training_checkpoint
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

# bf16 dense peak per GPU (no sparsity), for MFU.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "GH200": 989e12, "A100": 312e12}

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


# --- metrics -------------------------------------------------------------------------------------


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
        with job.runtime.autocast():
            logits = model(input_ids=inputs).logits
        loss = F.cross_entropy(
            logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="sum"
        )
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
    scheduler = build_scheduler(optimizer, cfg)
    resume_from, step, tokens_seen = resume_training(job, model, optimizer, scheduler)

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
    if step == 0 and cfg.max_steps > 0 and job.val_data:
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
        if job.val_data and (step % cfg.eval_every == 0 or step == cfg.max_steps):
            val = evaluate(model, job)
            last = {"kind": "val", "step": step, "val_loss": val, "val_ppl": math.exp(min(val, 50))}
            metrics.log(last)
        if step % cfg.checkpoint_every == 0 or step == cfg.max_steps:
            save_training_checkpoint(job, model, optimizer, scheduler, step, tokens_seen, last)
        if on_step:
            on_step(record)
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
