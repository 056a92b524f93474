"""Training throughput: tokens/s and MFU of the pretraining loop after warm-up.

    python benchmarks/train_throughput.py --preset tiny          # CPU (default)
    python benchmarks/train_throughput.py --preset 124m          # GPU: bf16 + torch.compile

Measures `corpusforge.model.loop.train` (the real loop: autocast, compile, fused AdamW,
clipping, schedule) on random tokens, and, in the same run, a bare peer loop (the same transformers
model, `model(input_ids, labels=...)`, AdamW, same precision and compile settings): the ratio shows
what the loop costs over the model itself. Sequence length: the preset's (1024; 2048 for 1b).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from corpusforge.model.config import PRESETS, TrainConfig, build_llama_config
from corpusforge.model.loop import Job, flops_per_token, peak_flops, train
from corpusforge.model.optim import build_optimizer
from corpusforge.model.runtime import setup_runtime, wrap_model

DEFAULT_BATCH = {"tiny": 8, "124m": 32, "350m": 16, "1b": 8}
VOCAB = {"tiny": 8192}  # a GPT-2-sized vocabulary (50257) elsewhere


class _Done(Exception):
    pass


class _NoStore:  # the benchmark stops before any checkpoint; nothing is ever stored
    def list_checkpoints(self, prefix=""):
        return []


def _random_batches(batch: int, seq: int, vocab: int, device: torch.device):
    gen = torch.Generator().manual_seed(0)

    def next_batch():
        tokens = torch.randint(0, vocab, (batch, seq + 1), generator=gen)
        return tokens[:, :-1], tokens[:, 1:]

    return next_batch


def measure_loop(config: TrainConfig, warmup: int, steps: int) -> list[float]:
    from transformers import LlamaForCausalLM

    vocab = VOCAB.get(config.preset, 50257)
    runtime = setup_runtime(config)
    torch.manual_seed(0)
    model = LlamaForCausalLM(build_llama_config(config.preset, vocab))
    batches = _random_batches(config.micro_batch_size, config.block_size, vocab, runtime.device)
    job = Job(
        config=config,
        runtime=runtime,
        storage=_NoStore(),  # type: ignore[arg-type]
        raw_model=model,
        tokenizer=None,
        next_batch=batches,
        val_data=[batches()],
        data_state=dict,
        load_data_state=lambda s: None,
    )
    rates: list[float] = []
    last = [time.perf_counter()]

    def on_step(record):  # called after the step's loss is on the host (GPU synchronized)
        now = time.perf_counter()
        if record["step"] > warmup:
            rates.append(config.micro_batch_size * config.block_size / (now - last[0]))
        last[0] = now
        if record["step"] >= warmup + steps:
            raise _Done

    with contextlib.suppress(_Done):
        train(job, on_step)
    return rates


def measure_peer(config: TrainConfig, warmup: int, steps: int) -> list[float]:
    """The bare loop: model, loss from `labels=`, backward, AdamW step."""
    from transformers import LlamaForCausalLM

    vocab = VOCAB.get(config.preset, 50257)
    runtime = setup_runtime(config)
    torch.manual_seed(0)
    model = LlamaForCausalLM(build_llama_config(config.preset, vocab))
    model = wrap_model(model, config, runtime)
    optimizer = build_optimizer(model, config, runtime)
    batches = _random_batches(config.micro_batch_size, config.block_size, vocab, runtime.device)
    rates = []
    for step in range(warmup + steps):
        inputs, _ = batches()
        inputs = inputs.to(runtime.device)
        t0 = time.perf_counter()
        with runtime.autocast():
            loss = model(input_ids=inputs, labels=inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()
        if step >= warmup:
            rates.append(inputs.numel() / (time.perf_counter() - t0))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--micro-batch", type=int, default=None)
    parser.add_argument("--seq-len", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None, help="default: 3 CPU, 10 GPU")
    parser.add_argument("--steps", type=int, default=None, help="default: 10 CPU, 30 GPU")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    args = parser.parse_args()

    gpu = torch.cuda.is_available()
    warmup = args.warmup if args.warmup is not None else (10 if gpu else 2)
    steps = args.steps if args.steps is not None else (30 if gpu else 8)
    vocab = VOCAB.get(args.preset, 50257)
    config = TrainConfig(
        preset=args.preset,
        data="-",
        run_name="benchmark",
        seq_len=args.seq_len,
        micro_batch_size=args.micro_batch or DEFAULT_BATCH[args.preset],
        max_steps=warmup + steps + 1,
        warmup_steps=2,
        eval_every=10**9,
        checkpoint_every=10**9,
        log_every=10**9,
        resume=False,
        cpu_threads=args.threads,
        compile=False if args.no_compile else None,
    )
    runtime = setup_runtime(config)
    device = torch.cuda.get_device_name() if gpu else f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"preset {args.preset}: batch {config.micro_batch_size}x{config.block_size}, "
        f"bf16={runtime.bf16} compile={runtime.compile}, {warmup} warm-up + {steps} steps on "
        f"{device}, torch {torch.__version__}",
        flush=True,
    )
    ours = statistics.median(measure_loop(config, warmup, steps))
    peer = statistics.median(measure_peer(config, warmup, steps))
    from transformers import LlamaForCausalLM

    with torch.device("meta"):
        n_params = sum(
            p.numel() for p in LlamaForCausalLM(build_llama_config(args.preset, vocab)).parameters()
        )
        fpt = flops_per_token(
            LlamaForCausalLM(build_llama_config(args.preset, vocab)), config.block_size
        )
    peak = peak_flops(config, runtime)
    for name, rate in (("corpusforge loop", ours), ("bare HF loop (peer)", peer)):
        mfu = f"{100 * fpt * rate / peak:.1f}%" if peak else "n/a (no GPU peak)"
        print(f"{name:>22}: {rate:>12,.0f} tokens/s   MFU {mfu}")
    print(
        f"params {n_params / 1e6:.1f}M, {fpt / 1e9:.3f} GFLOP/token; "
        f"ratio ours/peer {ours / peer:.2f}"
    )


if __name__ == "__main__":
    main()
