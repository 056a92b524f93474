"""The optimizer and its learning-rate schedule: AdamW with linear warmup and cosine decay."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from corpusforge.core.errors import ConfigError
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
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    named: torch.nn.Module,
) -> None:
    """Restore a full optimizer state keyed by parameter name (re-sharded under FSDP2).

    `named` is the unwrapped model, whose parameter names the state uses. A state keyed by
    position (what single-process checkpoints held before) is renamed first."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    if any(isinstance(k, int) for k in state["state"]):
        state = _keyed_by_name(state, optimizer, named)
    opts = StateDictOptions(full_state_dict=True, broadcast_from_rank0=False)
    set_optimizer_state_dict(model, optimizer, state, options=opts)


def _keyed_by_name(
    state: dict[str, Any], optimizer: torch.optim.Optimizer, named: torch.nn.Module
) -> dict[str, Any]:
    """Positions -> names: `build_optimizer` orders parameters the same way in every run."""
    names = {id(p): n for n, p in named.named_parameters()}
    rename: dict[int, str] = {}
    for saved, group in zip(state["param_groups"], optimizer.param_groups, strict=True):
        if len(saved["params"]) != len(group["params"]):
            raise ConfigError("the checkpoint's optimizer state does not fit this model")
        rename.update(
            {i: names[id(p)] for i, p in zip(saved["params"], group["params"], strict=True)}
        )
    return {
        "state": {rename[i]: v for i, v in state["state"].items()},
        "param_groups": [
            {**g, "params": [rename[i] for i in g["params"]]} for g in state["param_groups"]
        ],
    }
