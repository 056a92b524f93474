"""Where a training job runs: device, precision, the process group, seeds, and model wrapping.

`setup_runtime` reads torchrun's environment (one process on a laptop CPU, one per GPU under
torchrun) and picks the device and precision; `wrap_model` compiles the model and shards or
replicates it across ranks; `teardown_runtime` closes the process group the job opened.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from corpusforge.core.errors import ConfigError
from corpusforge.model.config import TrainConfig


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
        timeout = timedelta(seconds=config.dist_timeout_s)
        if use_cuda:  # device_id binds NCCL to this rank's GPU (eager init)
            dist.init_process_group(backend="nccl", device_id=device, timeout=timeout)
        else:
            dist.init_process_group(backend="gloo", timeout=timeout)
    bf16 = config.precision == "bf16" or (config.precision == "auto" and use_cuda)
    compile_ = config.compile if config.compile is not None else use_cuda
    return Runtime(device, rank, local_rank, world, bf16, compile_)


def teardown_runtime(runtime: Runtime) -> None:
    """Close the process group `setup_runtime` opened (nothing to do in a single process)."""
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()


def seed_rank(seed: int, runtime: Runtime) -> None:
    """Seed torch for this rank: each rank draws its own dropout and sampling streams."""
    torch.manual_seed(seed + runtime.rank)


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


def no_grad_sync(
    model: torch.nn.Module, last_micro_step: bool
) -> contextlib.AbstractContextManager:
    """Skip the gradient all-reduce on all but the last micro-step of an accumulation."""
    if hasattr(model, "no_sync") and not last_micro_step:
        return model.no_sync()
    if hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        model.set_requires_gradient_sync(last_micro_step)
    return contextlib.nullcontext()
