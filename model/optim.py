"""The optimizer and its learning-rate schedule: AdamW with linear warmup and cosine decay."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from corpusforge.model.config import TrainConfig
from corpusforge.model.runtime import Runtime


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


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config))


def load_optimizer_state(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict, runtime: Runtime
) -> None:
    """Restore a checkpoint's full (unsharded) optimizer state, re-sharded under FSDP."""
    if not runtime.distributed:
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    opts = StateDictOptions(full_state_dict=True, broadcast_from_rank0=False)
    set_optimizer_state_dict(model, optimizer, state, options=opts)
