"""Training throughput: tokens/s and MFU of the training loop, our blocks vs Hugging Face Llama.

    python benchmarks/train_throughput.py --preset tiny --compare-hf    # CPU, seconds
    python benchmarks/train_throughput.py --preset 124m --compare-hf    # one GPU, bf16 + compile
    python benchmarks/train_throughput.py --preset 1b --compare-hf

Both runs go through `corpusforge.model.loop.train` (the real loop: prefetched batches, autocast,
`torch.compile`, fused AdamW, clipping, schedule) on random tokens, one after the other in one
process: first the training blocks (`corpusforge.model.blocks.CausalLM`, fused Q/K/V and gate/up,
SDPA is_causal, the chunked loss inside the compiled region), then, with `--compare-hf`,
transformers' `LlamaForCausalLM` (SDPA) on the same weights and batches, compiled the same way,
with the loss as `cross_entropy(logits.float())`. Rates are medians of per-step rates after the
warm-up (compilation happens there). MFU = FLOPs/token (6N + 12·L·d·T, PaLM) × tokens/s over the
card's bf16 dense peak (`--peak-tflops` overrides the table in `loop.py`). Sequence length: the
preset's (1024; 2048 for 1b). On one H100 the whole command stays within about 5 minutes
(two compilations plus 2 × (10 + 30) steps).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import time

import torch

from corpusforge.model.blocks import CausalLM, to_hf_state_dict
from corpusforge.model.config import PRESETS, TrainConfig, build_llama_config
from corpusforge.model.loop import Job, flops_per_token, peak_flops, train
from corpusforge.model.runtime import setup_runtime

DEFAULT_BATCH = {"tiny": 8, "124m": 32, "350m": 16, "1b": 8}
VOCAB = {"tiny": 8192}  # a GPT-2-sized vocabulary (50257) elsewhere


class _Done(Exception):
    pass


class _NoStore:  # the benchmark stops before any checkpoint; nothing is ever stored
    def list_checkpoints(self, prefix=""):
        return []


def _random_batches(batch: int, seq: int, vocab: int):
    gen = torch.Generator().manual_seed(0)

    def next_batch():
        tokens = torch.randint(0, vocab, (batch, seq + 1), generator=gen)
        return tokens[:, :-1], tokens[:, 1:]

    return next_batch


def measure(config: TrainConfig, model: torch.nn.Module, warmup: int, steps: int) -> list[float]:
    """Per-step tokens/s of the real loop on `model`, after `warmup` steps."""
    vocab = model.config.vocab_size
    runtime = setup_runtime(config)
    batches = _random_batches(config.micro_batch_size, config.block_size, vocab)
    job = Job(
        config=config,
        runtime=runtime,
        storage=_NoStore(),  # type: ignore[arg-type]
        raw_model=model,
        tokenizer=None,
        next_batch=batches,
        val_data=[],
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


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_memory() -> str:
    if not torch.cuda.is_available():
        return ""
    return f"   peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--compare-hf", action="store_true", help="also run LlamaForCausalLM")
    parser.add_argument("--micro-batch", type=int, default=None)
    parser.add_argument("--seq-len", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None, help="default: 2 CPU, 10 GPU")
    parser.add_argument("--steps", type=int, default=None, help="default: 8 CPU, 30 GPU")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the card's")
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
        peak_flops=args.peak_tflops * 1e12 if args.peak_tflops else None,
    )
    runtime = setup_runtime(config)
    device = torch.cuda.get_device_name() if gpu else f"CPU ({torch.get_num_threads()} threads)"
    print(
        f"preset {args.preset}: batch {config.micro_batch_size}x{config.block_size}, "
        f"bf16={runtime.bf16} compile={runtime.compile}, {warmup} warm-up + {steps} steps on "
        f"{device}, torch {torch.__version__}",
        flush=True,
    )
    llama = build_llama_config(args.preset, vocab)
    torch.manual_seed(0)
    ours_model = CausalLM(llama)
    fpt = flops_per_token(ours_model, config.block_size)
    n_params = sum(p.numel() for p in ours_model.parameters())
    hf_state = to_hf_state_dict(ours_model.state_dict(), llama) if args.compare_hf else None
    peak = peak_flops(config, runtime)

    def report(name: str, rate: float) -> None:
        mfu = f"{100 * fpt * rate / peak:.1f}%" if peak else "n/a (no GPU peak)"
        print(f"{name:>28}: {rate:>12,.0f} tokens/s   MFU {mfu}{_peak_memory()}", flush=True)

    ours = statistics.median(measure(config, ours_model, warmup, steps))
    report("corpusforge blocks", ours)
    del ours_model
    _free()
    if args.compare_hf:
        from transformers import LlamaForCausalLM

        hf_model = LlamaForCausalLM(llama)
        tied = hf_state["model.embed_tokens.weight"]
        hf_model.load_state_dict({**hf_state, "lm_head.weight": tied})
        del hf_state
        hf = statistics.median(measure(config, hf_model, warmup, steps))
        report("HF LlamaForCausalLM", hf)
        print(f"ratio ours/HF {ours / hf:.2f}")
    print(f"params {n_params / 1e6:.1f}M, {fpt / 1e9:.3f} GFLOP/token")


if __name__ == "__main__":
    main()
