"""Preference tuning: DPO (TRL's `DPOTrainer`) from a stored fine-tuned checkpoint, or a reward
model (TRL's `RewardTrainer`, the first step of the RLHF recipe).

`python -m corpusforge.model.align --config align.json`. Rows are preference pairs, already
PII-scrubbed by the caller (the `align` flow runs the PII stage on chosen and rejected alike):

    {"prompt": "...", "chosen": "...", "rejected": "..."[, "system": "..."]}
    {"messages": [chat so far], "chosen": "...", "rejected": "..."}
    {"prompt": [messages], "chosen": [messages], "rejected": [messages]}   (TRL conversational)
    {"chosen": [whole chat], "rejected": [whole chat]}                        (implicit prompt)

Plain strings are turned into chat turns when the tokenizer has a chat template (as the SFT
rows are), so the model is tuned in the format it is prompted in. The reference model is
handled as TRL does: for full DPO a frozen copy loaded from the starting checkpoint, for LoRA
the base model with the adapters switched off.

Checkpoints go only through the `CheckpointStorage` (the encrypted store): each holds the Hugging
Face export (LoRA merged into the weights), `train_config.json`, and under `trainer/` the
Trainer's own resumable state (optimizer, scheduler, RNG, trainer state; the LoRA adapters).
Restarting the same run name resumes from its latest checkpoint through the Trainer's own
`resume_from_checkpoint`.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corpusforge.core.errors import ConfigError, InputError
from corpusforge.core.hashing import sha256_file
from corpusforge.model.checkpoint import (
    CONFIG_FILE,
    LocalCheckpoint,
    checkpoint_name,
    checkpoint_preset,
    export_hf,
    latest_checkpoint,
    load_model,
)
from corpusforge.model.config import AlignConfig
from corpusforge.model.entry import cli
from corpusforge.model.storage import CheckpointStorage

ROLES = ("system", "user", "assistant")
TRAINER_DIR = "trainer"
# The Trainer's resumable state; its `training_args.bin` (a pickle) is never stored.
TRAINER_STATE_FILES = ("optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json")
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")


# --- data ---------------------------------------------------------------------------------------


def _check_messages(value: Any, where: str, field: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: '{field}' must be a non-empty list of messages")
    for i, m in enumerate(value):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise InputError(f"{where}: {field} message {i} needs a role in {ROLES}")
        if not isinstance(m.get("content"), str):
            raise InputError(f"{where}: {field} message {i} is missing string field 'content'")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def _completion(value: Any, where: str, field: str) -> list[dict[str, str]] | str:
    if isinstance(value, str):
        if not value.strip():
            raise InputError(f"{where}: '{field}' is empty")
        return value
    return _check_messages(value, where, field)


def preference_row(row: Any, where: str, chat: bool) -> dict[str, Any]:
    """One row in TRL's format: conversational when `chat` (the tokenizer has a template)."""
    if not isinstance(row, dict):
        raise InputError(f"{where}: row is not a JSON object")
    for key in ("chosen", "rejected"):
        if key not in row:
            raise InputError(f"{where}: missing field '{key}'")
    chosen = _completion(row["chosen"], where, "chosen")
    rejected = _completion(row["rejected"], where, "rejected")
    if "messages" in row:
        prompt: Any = _check_messages(row["messages"], where, "messages")
    elif "prompt" in row:
        prompt = row["prompt"]
        if isinstance(prompt, str):
            if not prompt.strip():
                raise InputError(f"{where}: 'prompt' is empty")
        else:
            prompt = _check_messages(prompt, where, "prompt")
    else:
        prompt = None  # implicit prompt: the shared start of two whole chats (TRL extracts it)
        if isinstance(chosen, str) or isinstance(rejected, str):
            raise InputError(f"{where}: missing field 'prompt' (or give whole chats as lists)")
    if isinstance(prompt, str) and chat:
        system = row.get("system")
        prompt = ([{"role": "system", "content": system}] if isinstance(system, str) else []) + [
            {"role": "user", "content": prompt}
        ]
    conversational = isinstance(prompt, list) or prompt is None
    if conversational:
        chosen, rejected = (
            [{"role": "assistant", "content": c}] if isinstance(c, str) else c
            for c in (chosen, rejected)
        )
    elif not isinstance(chosen, str) or not isinstance(rejected, str):
        raise InputError(f"{where}: a text prompt needs text 'chosen' and 'rejected'")
    out = {"chosen": chosen, "rejected": rejected}
    if prompt is not None:
        out["prompt"] = prompt
    return out


def read_preferences(path: str | Path, chat: bool) -> list[dict[str, Any]]:
    """Every row in TRL's preference format; a malformed row fails with file:line, never text."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"preference file not found: {path}")
    rows = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise InputError(f"{path}:{lineno}: not valid JSON") from None
            rows.append(preference_row(row, f"{path}:{lineno}", chat))
    if not rows:
        raise InputError(f"preference file {path} has no rows")
    kinds = {("prompt" in r, isinstance(r["chosen"], list)) for r in rows}
    if len(kinds) > 1:
        raise InputError(f"{path}: rows mix formats (text and chat, explicit and implicit prompt)")
    return rows


def held_out_count(pairs: int, val_fraction: float) -> int:
    """How many of `pairs` preference pairs `split_pairs` holds out for evaluation."""
    return max(1, round(pairs * val_fraction))


def split_pairs(rows: list[dict], val_fraction: float, seed: int) -> tuple[list, list]:
    order = np.random.default_rng([seed, 11]).permutation(len(rows))
    n_val = held_out_count(len(rows), val_fraction)
    if len(rows) - n_val < 1:
        raise InputError(f"preference file has {len(rows)} rows: too few to hold out validation")
    val = {int(i) for i in order[:n_val]}
    return [r for i, r in enumerate(rows) if i not in val], [
        r for i, r in enumerate(rows) if i in val
    ]


# --- implicit reward, measured outside TRL (benchmark, tests) -----------------------------------


def _ids(tokenizer: Any, prompt: Any, completion: Any = None, gen: bool = False) -> list[int]:
    if isinstance(prompt, list):
        msgs = prompt + (completion or [])
        out = tokenizer.apply_chat_template(
            msgs, tokenize=True, add_generation_prompt=gen, return_dict=False
        )
        return list(out["input_ids"] if isinstance(out, dict) else out)
    text = prompt + (completion or "")
    return tokenizer.encode(text, add_special_tokens=False)


@torch.no_grad()
def completion_logps(model: torch.nn.Module, tokenizer: Any, rows: list[dict]) -> torch.Tensor:
    """[pairs, 2]: summed log-probability of the chosen and the rejected completion given the
    prompt (tokenized as TRL does: prompt with generation prompt, then prompt + completion)."""
    model.eval()
    device = next(model.parameters()).device
    out = torch.zeros(len(rows), 2)
    for r, row in enumerate(rows):
        prompt_ids = _ids(tokenizer, row["prompt"], gen=True)
        for c, key in enumerate(("chosen", "rejected")):
            full = _ids(tokenizer, row["prompt"], row[key])
            if isinstance(row[key], str) and tokenizer.eos_token_id is not None:
                full.append(tokenizer.eos_token_id)
            n = 0
            while n < min(len(prompt_ids), len(full)) and prompt_ids[n] == full[n]:
                n += 1
            ids = torch.tensor([full], device=device)
            logits = model(input_ids=ids).logits.float()[0, :-1]
            logp = torch.log_softmax(logits, -1).gather(1, ids[0, 1:, None])[:, 0]
            out[r, c] = logp[max(n - 1, 0) :].sum().cpu()
    return out


def preference_accuracy(
    policy: torch.Tensor, reference: torch.Tensor | None = None, beta: float = 1.0
) -> float:
    """Share of pairs whose chosen completion gets the higher (implicit) reward, ties counted
    half. With `reference`: DPO's implicit reward beta * (log pi - log pi_ref); without: the
    policy's own log-likelihood."""
    reward = beta * (policy - reference) if reference is not None else policy
    diff = reward[:, 0] - reward[:, 1]
    return float(((diff > 0).float() + 0.5 * (diff == 0).float()).mean())


# --- checkpoints through the store ---------------------------------------------------------------


def _parent_classification(storage: CheckpointStorage, name: str) -> str | None:
    entries = [e for e in storage.list_checkpoints(prefix=name) if e.get("name") == name]
    return entries[0].get("classification") if entries else None


def _assemble(
    trainer: Any, config: AlignConfig, step: int, trainer_dir: Path, out: Path, tokenizer: Any
) -> None:
    """HF export (LoRA merged) + train_config.json + the Trainer's state under trainer/."""
    from corpusforge.model.sft import merged_copy

    model = trainer.accelerator.unwrap_model(trainer.model)
    if config.lora:
        export_hf(merged_copy(model), tokenizer, out)
    elif config.method == "reward":
        model.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
    else:
        export_hf(model, tokenizer, out)
    (out / CONFIG_FILE).write_text(config.model_dump_json(indent=2))
    state = out / TRAINER_DIR
    state.mkdir()
    for name in TRAINER_STATE_FILES + (ADAPTER_FILES if config.lora else ()):
        if (trainer_dir / name).is_file():
            shutil.copy2(trainer_dir / name, state / name)


def _resume_dir(path: Path, config: AlignConfig, work: Path) -> Path:
    """The fetched checkpoint as the folder the Trainer resumes from."""
    state = path / TRAINER_DIR
    if not (state / "trainer_state.json").is_file():
        raise InputError(f"checkpoint {path.name} has no trainer state to resume from")
    target = work / "resume"
    shutil.copytree(state, target)
    if not config.lora:  # full tuning: the weights are the checkpoint's own export
        for name in ("config.json", "model.safetensors"):
            shutil.copy2(path / name, target / name)
    return target


def make_store_callback(config: AlignConfig, storage: CheckpointStorage, metadata: dict):
    from transformers import TrainerCallback

    class StoreCheckpoints(TrainerCallback):
        """Each checkpoint the Trainer writes goes into the store as one atomic put, then the
        local copy is deleted (nothing stays outside the encrypted store)."""

        trainer: Any = None
        tokenizer: Any = None
        last: dict[str, Any] = {}

        def on_save(self, args, state, control, **kwargs):
            local = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            name = checkpoint_name(config.run_name, state.global_step)
            try:
                with tempfile.TemporaryDirectory(prefix="ckpt-") as tmp:
                    out = Path(tmp) / "checkpoint"
                    out.mkdir()
                    _assemble(self.trainer, config, state.global_step, local, out, self.tokenizer)
                    storage.put_checkpoint(
                        name,
                        out,
                        {
                            **metadata,
                            "step": state.global_step,
                            "val_loss": self.last.get("val_loss"),
                            "reward_accuracy": self.last.get("reward_accuracy"),
                        },
                    )
            finally:
                shutil.rmtree(local, ignore_errors=True)
            print(f"checkpoint {name}", flush=True)

    return StoreCheckpoints()


def make_metrics_callback(config: AlignConfig, store_cb: Any):
    from transformers import TrainerCallback

    class Metrics(TrainerCallback):
        """The Trainer's logs as this project's metric records (stdout + JSONL)."""

        def __init__(self) -> None:
            self.file = open(config.metrics_path, "a") if config.metrics_path else None  # noqa: SIM115

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            record: dict[str, Any] | None = None
            if "eval_loss" in logs:
                record = {
                    "kind": "val",
                    "step": state.global_step,
                    "val_loss": logs["eval_loss"],
                    "reward_accuracy": logs.get(
                        "eval_rewards/accuracies", logs.get("eval_accuracy")
                    ),
                    "reward_margin": logs.get("eval_rewards/margins", logs.get("eval_margin")),
                }
                store_cb.last = record
            elif "loss" in logs:
                record = {
                    "kind": "train",
                    "step": state.global_step,
                    "loss": logs["loss"],
                    "lr": logs.get("learning_rate"),
                    "grad_norm": logs.get("grad_norm"),
                    "reward_accuracy": logs.get("rewards/accuracies", logs.get("accuracy")),
                    "reward_margin": logs.get("rewards/margins", logs.get("margin")),
                }
            if record is None:
                return
            record = {k: (float(v) if hasattr(v, "__float__") and k != "step" else v)
                      for k, v in record.items() if v is not None}  # fmt: skip
            print(" ".join(f"{k}={_fmt(v)}" for k, v in record.items()), flush=True)
            if self.file:
                self.file.write(json.dumps(record) + "\n")
                self.file.flush()

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= state.max_steps:
                control.should_evaluate = True  # the final held-out figures, before the save
            return control

        def on_train_end(self, args, state, control, **kwargs):
            if self.file:
                self.file.close()
                self.file = None

    return Metrics()


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# --- the job ----------------------------------------------------------------------------------


def _trainer_args(config: AlignConfig, output_dir: str, max_length: int, use_cpu: bool):
    common = dict(
        output_dir=output_dir,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.micro_batch_size,
        per_device_eval_batch_size=config.micro_batch_size,
        gradient_accumulation_steps=config.grad_accum_steps,
        learning_rate=config.lr,
        lr_scheduler_type="linear",
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        logging_steps=config.log_every,
        eval_strategy="steps",
        eval_steps=config.eval_every,
        save_strategy="steps",
        save_steps=config.checkpoint_every,
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=use_cpu,
        bf16=not use_cpu and torch.cuda.is_bf16_supported(),
        report_to=[],
        disable_tqdm=True,
        gradient_checkpointing=False,
        dataloader_num_workers=0,
        max_length=max_length,
    )
    if config.method == "reward":
        from trl import RewardConfig

        return RewardConfig(**common)
    from trl import DPOConfig

    return DPOConfig(
        **common,
        beta=config.beta,
        loss_type=[config.loss_type],
    )


def align(config: AlignConfig, storage: CheckpointStorage) -> dict[str, Any]:
    """Preference-tune `config.init_from` on `config.data`; checkpoints go to `storage`."""
    from datasets import Dataset
    from datasets.utils import logging as datasets_logging
    from transformers import AutoTokenizer, PrinterCallback
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    datasets_logging.disable_progress_bar()
    if config.cpu_threads:
        torch.set_num_threads(config.cpu_threads)
    use_cpu = config.device == "cpu" or not torch.cuda.is_available()
    data_sha = sha256_file(config.data) if Path(config.data).is_file() else None
    resume_from = latest_checkpoint(storage, config.run_name) if config.resume else None
    with tempfile.TemporaryDirectory(prefix="align-") as tmp:
        work = Path(tmp)
        init = LocalCheckpoint(storage, config.init_from)
        path = init.__enter__()  # kept until the trainer is built: TRL loads the reference here
        try:
            preset = checkpoint_preset(path)
            config = config.model_copy(update={"preset": preset})
            tokenizer = AutoTokenizer.from_pretrained(
                path, local_files_only=True, trust_remote_code=False
            )
            rows = read_preferences(config.data, chat=bool(tokenizer.chat_template))
            train_rows, val_rows = split_pairs(rows, config.val_fraction, config.seed)
            if config.method == "reward":
                model = _reward_model(path)
            else:
                model = load_model(path)
            max_length = config.max_length or int(model.config.max_position_embeddings)
            metadata = {
                **config.checkpoint_metadata,
                "kind": config.method,
                "run": config.run_name,
                "preset": preset,
                "parent_checkpoint": config.init_from,
                "preference_data_sha256": config.data_sha256 or data_sha,
                "scrubbed_data_sha256": data_sha,
                "pairs": len(rows),
            }
            parent_class = _parent_classification(storage, config.init_from)
            if parent_class and "classification" not in metadata:
                metadata["classification"] = parent_class  # never below the parent's
            store_cb = make_store_callback(config, storage, metadata)
            callbacks = [store_cb, make_metrics_callback(config, store_cb)]
            args = _trainer_args(config, str(work / "out"), max_length, use_cpu)
            trainer = _build_trainer(
                config, model, tokenizer, args, train_rows, val_rows, callbacks, Dataset
            )
            store_cb.trainer, store_cb.tokenizer = trainer, tokenizer
            trainer.remove_callback(PrinterCallback)  # its raw dicts; Metrics prints lines
        finally:
            init.__exit__(None, None, None)
        resume_path = None
        if resume_from:
            with LocalCheckpoint(storage, resume_from) as fetched:
                saved = json.loads((fetched / CONFIG_FILE).read_text())
                if (
                    saved.get("init_from") != config.init_from
                    or saved.get("method") != config.method
                ):
                    raise ConfigError(
                        f"run {config.run_name} was started from {saved.get('init_from')} "
                        f"({saved.get('method')}); use another run name"
                    )
                if saved.get("lora") != (config.lora.model_dump() if config.lora else None):
                    raise ConfigError(f"run {config.run_name} was started with other LoRA settings")
                resume_path = _resume_dir(fetched, config, work)
            print(f"resuming {config.run_name} from {resume_from}", flush=True)
        print(
            f"{config.method} {config.run_name}: from {config.init_from}, {len(train_rows)} train "
            f"/ {len(val_rows)} held-out pairs, lora={bool(config.lora)}, "
            f"device={'cpu' if use_cpu else 'cuda'}",
            flush=True,
        )
        if resume_path is None:
            trainer.evaluate()  # step 0: the held-out figures before any update
        trainer.train(resume_from_checkpoint=str(resume_path) if resume_path else None)
    final = store_cb.last
    return {
        "step": trainer.state.global_step,
        "checkpoint": checkpoint_name(config.run_name, trainer.state.global_step),
        **{k: final.get(k) for k in ("val_loss", "reward_accuracy", "reward_margin")},
    }


def _reward_model(path: Path) -> torch.nn.Module:
    """A scalar-head sequence classifier on the checkpoint's transformer (head newly made)."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1, local_files_only=True, trust_remote_code=False, use_safetensors=True
    )
    return model


def _build_trainer(config, model, tokenizer, args, train_rows, val_rows, callbacks, Dataset):
    peft_config = None
    if config.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=config.lora.rank,
            lora_alpha=config.lora.alpha,
            lora_dropout=config.lora.dropout,
            target_modules=list(config.lora.target_modules),
            task_type="SEQ_CLS" if config.method == "reward" else "CAUSAL_LM",
        )
    train_ds, val_ds = Dataset.from_list(train_rows), Dataset.from_list(val_rows)
    if config.method == "reward":
        from trl import RewardTrainer

        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        return RewardTrainer(
            model=model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=val_ds,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=callbacks,
        )
    from trl import DPOTrainer

    return DPOTrainer(
        model=model,
        ref_model=None,  # TRL's way: a frozen copy of the start (or the adapters switched off)
        args=args,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )


def main(argv: list[str] | None = None) -> int:
    return cli(argv, AlignConfig, align, __doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
