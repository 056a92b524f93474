"""Pretraining: `python -m corpusforge.model.pretrain --config run.json` (or under `torchrun`).

One code path for a laptop CPU and a GPU cluster: on CUDA it switches on bf16 autocast over fp32
master weights, `torch.compile`, fused AdamW and DDP (or FSDP2 with `fsdp=true`) when torchrun
starts several processes; on CPU the same loop runs with those switched off. This module builds
the pretraining job (token shards, tokenizer, a fresh or resumed model); the runtime
(`runtime.py`), optimizer (`optim.py`), loop (`loop.py`) and checkpoints (`checkpoint.py`) are
shared with fine-tuning (`sft.py`).
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from corpusforge.core.errors import ConfigError
from corpusforge.model.blocks import CausalLM
from corpusforge.model.checkpoint import ResumePoint, latest_checkpoint
from corpusforge.model.config import TrainConfig, build_llama_config, padded_vocab_size
from corpusforge.model.data import TokenSource, WindowSampler, open_tokens, validation_batches
from corpusforge.model.entry import cli
from corpusforge.model.loop import Job, StepHook, run_job
from corpusforge.model.runtime import Runtime, seed_rank
from corpusforge.model.storage import CheckpointStorage


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
    from transformers import AutoTokenizer

    model, resume = None, None
    resume_from = latest_checkpoint(storage, config.run_name) if config.resume else None
    if resume_from:  # first: a checkpoint of another preset fails before any data is read
        resume = ResumePoint(storage, resume_from, config.preset)  # closed by resume_training
        try:
            model = resume.training_model()  # weights: after wrapping, from the shards
        except BaseException:
            resume.close()
            raise
    if sources is None:
        sources = (
            open_tokens(config.data, "train"),
            open_tokens(config.data, "val", allow_empty=True),
        )
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
    if not val_data and runtime.is_main:
        print(
            f"no validation: the val split of {config.data} holds {val_src.num_tokens} tokens, "
            f"fewer than one batch of {config.micro_batch_size * runtime.world_size} windows of "
            f"{config.block_size + 1}; training runs without val loss",
            flush=True,
        )
    if model is not None:
        check_vocab(tokenizer, train_src, model.config.vocab_size)
    else:
        torch.manual_seed(config.seed)
        llama = build_llama_config(
            config.preset, train_src.vocab_size, eot_id=train_src.eot_id, pad_id=train_src.pad_id
        )
        model = CausalLM(llama)
    seed_rank(config.seed, runtime)
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
        resume=resume,
    )


def pretrain(
    config: TrainConfig,
    storage: CheckpointStorage,
    on_step: StepHook | None = None,
    sources: tuple[TokenSource, TokenSource] | None = None,
) -> dict[str, Any]:
    """Pretrain (or resume) `config.run_name`; checkpoints go to `storage`."""
    return run_job(config, lambda rt: prepare_pretrain(config, storage, rt, sources), on_step)


def main(argv: list[str] | None = None) -> int:
    return cli(argv, TrainConfig, pretrain, __doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
