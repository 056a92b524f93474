"""Instruction fine-tuning (SFT) from a stored pretrained checkpoint.

Rows are prompt/response JSONL (`prompt`, `response`, optional `system`) or chat JSONL
(`messages`: [{role, content}, ...]). Each is rendered with the tokenizer's chat template and only
assistant turns count in the loss: the labels of everything else are -100. The masked span of a
turn is found by rendering the conversation up to it with `add_generation_prompt=True`, so the
split follows whatever template the tokenizer carries. Optional LoRA (peft) adapters are merged
into the weights of every exported checkpoint.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corpusforge.core.errors import ConfigError, InputError
from corpusforge.model.checkpoint import (
    LocalCheckpoint,
    ResumePoint,
    check_preset,
    latest_checkpoint,
    load_model,
    load_training_model,
)
from corpusforge.model.config import SFTConfig
from corpusforge.model.entry import cli
from corpusforge.model.loop import Job, StepHook, run_job
from corpusforge.model.runtime import Runtime, seed_rank
from corpusforge.model.storage import CheckpointStorage

IGNORE = -100
ADAPTER_DIR = "adapter"  # LoRA runs: the adapter beside the merged export
ROLES = ("system", "user", "assistant")


def read_sft_rows(path: str | Path) -> list[list[dict[str, str]]]:
    """Every row as a list of chat messages; a malformed row fails with its line number."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"SFT file not found: {path}")
    conversations = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise InputError(f"{path}:{lineno}: not valid JSON") from None
            conversations.append(_messages(row, f"{path}:{lineno}"))
    if not conversations:
        raise InputError(f"SFT file {path} has no rows")
    return conversations


def _messages(row: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(row, dict):
        raise InputError(f"{where}: row is not a JSON object")
    if "messages" in row:
        msgs = row["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise InputError(f"{where}: 'messages' must be a non-empty list")
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ROLES:
                raise InputError(f"{where}: message {i} needs a role in {ROLES}")
            if not isinstance(m.get("content"), str):
                raise InputError(f"{where}: message {i} is missing string field 'content'")
        if not any(m["role"] == "assistant" for m in msgs):
            raise InputError(f"{where}: no assistant message to learn from")
        return [{"role": m["role"], "content": m["content"]} for m in msgs]
    for key in ("prompt", "response"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise InputError(f"{where}: missing field '{key}' (or use 'messages')")
    msgs = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    return msgs + [
        {"role": "user", "content": row["prompt"]},
        {"role": "assistant", "content": row["response"]},
    ]


def _ids(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> list[int]:
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=generation_prompt, return_dict=False
    )
    return list(out["input_ids"] if isinstance(out, dict) else out)


def encode_conversation(
    tokenizer: Any, messages: list[dict[str, str]], max_tokens: int
) -> tuple[list[int], list[int]]:
    """Token ids and labels (ids on assistant turns, -100 elsewhere), truncated to max_tokens."""
    ids = _ids(tokenizer, messages, False)
    labels = [IGNORE] * len(ids)
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start = len(_ids(tokenizer, messages[:i], True))
        end = len(_ids(tokenizer, messages[: i + 1], False))
        if ids[:end][:start] != _ids(tokenizer, messages[:i], True):
            raise ConfigError("the tokenizer's chat template does not render turns as prefixes")
        labels[start:end] = ids[start:end]
    return ids[:max_tokens], labels[:max_tokens]


class SFTBatches:
    """Seeded shuffled examples, right-padded per micro-batch; cursor = examples consumed."""

    def __init__(
        self,
        examples: list[tuple[list[int], list[int]]],
        micro_batch: int,
        pad_id: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.examples, self.micro_batch, self.pad_id = examples, micro_batch, pad_id
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.consumed = 0

    def _example(self, index: int) -> tuple[list[int], list[int]]:
        epoch, pos = divmod(index, len(self.examples))
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.examples))
        return self.examples[int(order[pos])]

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        first = self.consumed + self.rank * self.micro_batch
        rows = [self._example(first + i) for i in range(self.micro_batch)]
        self.consumed += self.micro_batch * self.world_size
        return collate(rows, self.pad_id)

    def state_dict(self) -> dict[str, int]:
        return {"consumed": self.consumed, "seed": self.seed, "examples": len(self.examples)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["examples"] != len(self.examples) or state["seed"] != self.seed:
            raise InputError("SFT data changed since the checkpoint (example count or seed)")
        self.consumed = int(state["consumed"])


def collate(rows: list[tuple[list[int], list[int]]], pad_id: int) -> tuple[torch.Tensor, ...]:
    """Inputs ids[:-1] and targets labels[1:], right-padded (causal attention never sees pads
    before a real token, so no attention mask is needed)."""
    width = max(len(ids) for ids, _ in rows) - 1
    inputs = torch.full((len(rows), width), pad_id, dtype=torch.long)
    targets = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for r, (ids, labels) in enumerate(rows):
        n = len(ids) - 1
        inputs[r, :n] = torch.tensor(ids[:-1])
        targets[r, :n] = torch.tensor(labels[1:])
    return inputs, targets


def split_examples(
    examples: list[tuple[list[int], list[int]]], val_fraction: float, seed: int
) -> tuple[list, list]:
    order = np.random.default_rng([seed, 7]).permutation(len(examples))
    n_val = max(1, round(len(examples) * val_fraction))
    if len(examples) - n_val < 1:
        raise InputError(f"SFT file has {len(examples)} rows: too few to hold out validation")
    val = {int(i) for i in order[:n_val]}
    return (
        [e for i, e in enumerate(examples) if i not in val],
        [e for i, e in enumerate(examples) if i in val],
    )


def apply_lora(model: torch.nn.Module, config: SFTConfig) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model

    lora = config.lora
    assert lora is not None
    return get_peft_model(
        model,
        LoraConfig(
            r=lora.rank,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            task_type="CAUSAL_LM",
        ),
    )


def merged_copy(peft_model: torch.nn.Module) -> torch.nn.Module:
    """The base model with the adapters folded into its weights (the training copy stays)."""
    return copy.deepcopy(peft_model).merge_and_unload()


def write_adapter(peft_model: Any, out: Path, base: str) -> None:
    """The LoRA adapter as peft saves it (adapter_config.json + adapter_model.safetensors), for
    `PeftModel.from_pretrained(<base checkpoint's model>, out)`; `base` names that checkpoint."""
    peft_model.save_pretrained(out, safe_serialization=True, save_embedding_layers=False)
    path = out / "adapter_config.json"
    adapter_config = json.loads(path.read_text())
    adapter_config["base_model_name_or_path"] = base  # not the temp dir it was loaded from
    path.write_text(json.dumps(adapter_config, indent=2, sort_keys=True))


def prepare_sft(config: SFTConfig, storage: CheckpointStorage, runtime: Runtime) -> Job:
    """Check and load the base checkpoint and the SFT rows, build the job. No training yet."""
    from transformers import AutoTokenizer

    conversations = read_sft_rows(config.data)
    if config.lora and config.fsdp:
        raise ConfigError("LoRA fine-tuning runs with DDP; set fsdp=false")
    resume_from = latest_checkpoint(storage, config.run_name) if config.resume else None
    # LoRA resumes from the base weights plus the adapters kept in the training state. LoRA
    # runs on transformers' model, whose module names (q_proj, ...) peft targets and its
    # adapters are saved under; full fine-tuning on the fused training blocks.
    load = load_model if config.lora else load_training_model
    weights_from = config.init_from if (config.lora or not resume_from) else resume_from
    # a full fine-tune resuming its own run needs only the base's tokenizer and configs
    base_weights = weights_from == config.init_from
    with LocalCheckpoint(storage, config.init_from, weights=base_weights) as path:
        check_preset(path, config.init_from, config.preset)
        tokenizer = AutoTokenizer.from_pretrained(
            path, local_files_only=True, trust_remote_code=False
        )
        model = load(path) if base_weights else None
    resume = None
    if model is None:  # a full fine-tune resuming: weights and state from one fetch
        resume = ResumePoint(storage, weights_from, config.preset)  # closed by resume_training
        try:
            model = resume.training_model()  # full fine-tuning: weights from the shards
        except BaseException:
            resume.close()
            raise
    if not tokenizer.chat_template:
        raise ConfigError(f"tokenizer of {config.init_from} has no chat template")
    if len(tokenizer) > model.config.vocab_size:
        raise ConfigError(
            f"tokenizer has {len(tokenizer)} tokens, model vocabulary only "
            f"{model.config.vocab_size}"
        )
    max_tokens = config.block_size + 1
    examples = [encode_conversation(tokenizer, c, max_tokens) for c in conversations]
    examples = [e for e in examples if any(x != IGNORE for x in e[1][1:])]
    if not examples:
        raise InputError(f"no SFT row of {config.data} has a response within {max_tokens} tokens")
    train_ex, val_ex = split_examples(examples, config.val_fraction, config.seed)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batches = SFTBatches(
        train_ex,
        config.micro_batch_size,
        pad_id,
        seed=config.seed,
        rank=runtime.rank,
        world_size=runtime.world_size,
    )
    val_rows = val_ex[runtime.rank :: runtime.world_size] or val_ex
    val_data = [
        collate(val_rows[i : i + config.micro_batch_size], pad_id)
        for i in range(0, len(val_rows), config.micro_batch_size)
    ][: config.eval_batches]

    seed_rank(config.seed, runtime)
    job = Job(
        config=config,
        runtime=runtime,
        storage=storage,
        raw_model=model,
        tokenizer=tokenizer,
        next_batch=batches.next_batch,
        val_data=val_data,
        data_state=batches.state_dict,
        load_data_state=batches.load_state_dict,
        kind="sft",
        metadata={"parent_checkpoint": config.init_from},
        resume=resume,
    )
    if config.lora:
        from peft import get_peft_model_state_dict, set_peft_model_state_dict

        peft_model = apply_lora(model, config)
        job.raw_model = peft_model
        job.export_model = lambda: (merged_copy(peft_model), None)
        job.extra_state = lambda: {
            "adapter": get_peft_model_state_dict(peft_model, save_embedding_layers=False)
        }
        job.load_extra_state = lambda s: set_peft_model_state_dict(peft_model, s["adapter"])
        job.write_extra = lambda out: write_adapter(peft_model, out / ADAPTER_DIR, config.init_from)
    return job


def finetune(
    config: SFTConfig, storage: CheckpointStorage, on_step: StepHook | None = None
) -> dict[str, Any]:
    """Fine-tune `config.init_from` on `config.data`; checkpoints go to `storage`."""
    return run_job(config, lambda rt: prepare_sft(config, storage, rt), on_step)


def main(argv: list[str] | None = None) -> int:
    return cli(argv, SFTConfig, finetune, __doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
