"""Training configuration (pydantic) and the model presets, built as transformers LlamaConfigs.

Every preset is the Llama architecture (RMSNorm, rotary embeddings, SwiGLU MLP, SDPA attention),
so each checkpoint loads with `AutoModelForCausalLM.from_pretrained`. The vocabulary comes from
the tokenizer, padded to a multiple of 64 (tensor-core friendly matmul shapes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from corpusforge.core.errors import ConfigError
from corpusforge.core.settings import StrictModel

PresetName = Literal["tiny", "124m", "350m", "1b"]
VOCAB_MULTIPLE = 64


class Preset(BaseModel):
    model_config = ConfigDict(frozen=True)

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    seq_len: int
    rope_theta: float = 10000.0


PRESETS: dict[str, Preset] = {
    # A few million parameters: trains on 2 CPU cores in minutes (tests, demo).
    "tiny": Preset(
        hidden_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        intermediate_size=384,
        seq_len=256,
    ),
    # GPT-2 small sized (with a ~50k vocabulary and tied embeddings).
    "124m": Preset(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        num_key_value_heads=12,
        intermediate_size=2048,
        seq_len=1024,
    ),
    "350m": Preset(
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        num_key_value_heads=16,
        intermediate_size=2816,
        seq_len=1024,
    ),
    # Llama 3.2 1B shape (grouped-query attention).
    "1b": Preset(
        hidden_size=2048,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=8192,
        seq_len=2048,
        rope_theta=500000.0,
    ),
}


def padded_vocab_size(vocab_size: int, multiple: int = VOCAB_MULTIPLE) -> int:
    return -(-vocab_size // multiple) * multiple


def build_llama_config(
    preset: str, vocab_size: int, *, eot_id: int | None = None, pad_id: int | None = None
):
    """The transformers LlamaConfig for `preset` and a tokenizer of `vocab_size` tokens."""
    from transformers import LlamaConfig

    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    p = PRESETS[preset]
    return LlamaConfig(
        vocab_size=padded_vocab_size(vocab_size),
        hidden_size=p.hidden_size,
        intermediate_size=p.intermediate_size,
        num_hidden_layers=p.num_hidden_layers,
        num_attention_heads=p.num_attention_heads,
        num_key_value_heads=p.num_key_value_heads,
        max_position_embeddings=p.seq_len,
        rope_theta=p.rope_theta,
        rms_norm_eps=1e-5,
        hidden_act="silu",
        tie_word_embeddings=True,
        attention_bias=False,
        mlp_bias=False,
        initializer_range=0.02,
        bos_token_id=None,
        eos_token_id=eot_id,
        pad_token_id=pad_id,
        attn_implementation="sdpa",
    )


class LoraSettings(StrictModel):
    """LoRA adapters (peft) for fine-tuning; merged into the weights on export."""

    rank: int = Field(8, ge=1)
    alpha: float = Field(16.0, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.]+$")]] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], min_length=1
    )


# The checkpoint storages a training job can open, by name. A fixed registry: a config or a
# Prefect parameter chooses among these names and never names code to import.
StorageName = Literal["store"]


STORAGE_NAMES: tuple[str, ...] = get_args(StorageName)


class StoreArgs(StrictModel):
    """Arguments of the `store` storage: the workspace's encrypted checkpoint store."""

    workspace: str | None = Field(None, description="workspace of the store (default: current)")
    url: str | None = Field(None, description="store location (default: the workspace's)")


class TrainConfig(StrictModel):
    """One pretraining run. Steps count optimizer updates (micro_batch × grad_accum × ranks)."""

    preset: PresetName = "tiny"
    data: str = Field(
        ..., description="token shard directory (corpusforge.pipeline.tokenize output)"
    )
    run_name: str = Field("pretrain", pattern=r"^[A-Za-z0-9._-]+$")
    seq_len: int | None = Field(None, ge=8, description="default: the preset's")
    micro_batch_size: int = Field(8, ge=1)
    grad_accum_steps: int = Field(1, ge=1)
    max_steps: int = Field(200, ge=1)
    lr: float = Field(3e-3, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    warmup_steps: int = Field(20, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = Field(1.0, ge=0, description="0 disables clipping")
    eval_every: int = Field(50, ge=1)
    eval_batches: int = Field(8, ge=1)
    checkpoint_every: int = Field(100, ge=1)
    keep_checkpoints: int = Field(0, ge=0, description="informational; the store keeps history")
    log_every: int = Field(10, ge=1)
    seed: int = 1337
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "bf16", "fp32"] = Field("auto", description="auto: bf16 on GPU")
    compile: bool | None = Field(None, description="torch.compile; default on GPU only")
    cpu_threads: int | None = Field(None, ge=1, description="torch threads on CPU (default: all)")
    fsdp: bool = Field(False, description="FSDP2 sharding instead of DDP for multi-GPU runs")
    dist_timeout_s: int = Field(
        1800,
        ge=10,
        description="process-group timeout: a collective (a checkpoint's gather, the barrier "
        "after it) that waits longer on a dead or stuck rank fails instead of hanging",
    )
    resume: bool = Field(True, description="continue from the run's latest checkpoint")
    metrics_path: str | None = Field(None, description="JSONL metrics file (default: none)")
    peak_flops: float | None = Field(None, description="accelerator peak for MFU; auto if None")
    storage: StorageName = Field(
        "store",
        description="checkpoint storage by name: 'store' (the encrypted, access-controlled "
        "store; the token comes from $CORPUSFORGE_TOKEN)",
    )
    storage_args: StoreArgs = Field(default_factory=StoreArgs)
    checkpoint_metadata: dict[str, Any] = Field(
        default_factory=dict, description="stored with every checkpoint, e.g. pii_scrubbed"
    )

    @field_validator("storage", mode="before")
    @classmethod
    def _storage_by_name(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in STORAGE_NAMES:
            raise ValueError(
                f"unknown checkpoint storage; choose one of: {', '.join(STORAGE_NAMES)} "
                "(storage is chosen by name, never by a module path)"
            )
        return value

    @property
    def block_size(self) -> int:
        return self.seq_len or PRESETS[self.preset].seq_len

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.seq_len and self.seq_len > PRESETS[self.preset].seq_len:
            raise ValueError(
                f"seq_len {self.seq_len} exceeds the {self.preset} preset's "
                f"{PRESETS[self.preset].seq_len} positions"
            )
        return self

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        return cls.model_validate_json(Path(path).read_text())


class SFTConfig(TrainConfig):
    """Instruction fine-tuning from a stored pretrained checkpoint."""

    data: str = Field(..., description="prompt/response or chat `messages` JSONL file")
    init_from: str = Field(..., description="checkpoint name in the store to start from")
    run_name: str = Field("finetune", pattern=r"^[A-Za-z0-9._-]+$")
    lr: float = Field(1e-3, gt=0)
    warmup_steps: int = Field(5, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    val_fraction: float = Field(0.1, gt=0, lt=1, description="examples held out for val loss")
    lora: LoraSettings | None = None


class PretrainSection(TrainConfig):
    """`TrainConfig` as a pipeline section: the pipeline fills in `data` (the tokenize output)."""

    data: str | None = Field(None, description="set by the pipeline: the tokenize output")

    @field_validator("data")
    @classmethod
    def _set_by_pipeline(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("pretrain.data is set by the pipeline (the tokenize output)")
        return value


class FinetuneSection(SFTConfig):
    """`SFTConfig` as a pipeline section: `init_from` is the pretrain stage's final checkpoint."""

    data: str | None = Field(None, description="prompt/response or chat `messages` JSONL file")
    init_from: str | None = Field(None, description="set by the pipeline: pretrain's checkpoint")


class AlignConfig(StrictModel):
    """One preference-tuning run from a stored (fine-tuned) checkpoint."""

    data: str = Field(..., description="preference JSONL (PII-scrubbed)")
    init_from: str = Field(..., description="checkpoint name in the store to start from")
    run_name: str = Field("align", pattern=r"^[A-Za-z0-9._-]+$")
    method: Literal["dpo", "reward"] = Field("dpo", description="dpo, or a reward model")
    preset: PresetName | None = Field(None, description="set from the starting checkpoint")
    beta: float = Field(0.1, gt=0, description="DPO temperature (strength of the KL anchor)")
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust"] = "sigmoid"
    lr: float = Field(5e-6, gt=0)
    warmup_steps: int = Field(0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    micro_batch_size: int = Field(8, ge=1, description="preference pairs per micro-batch")
    grad_accum_steps: int = Field(1, ge=1)
    max_steps: int = Field(100, ge=1)
    max_length: int | None = Field(None, ge=8, description="tokens per sequence; default model's")
    val_fraction: float = Field(0.1, gt=0, lt=1, description="pairs held out for evaluation")
    eval_every: int = Field(50, ge=1)
    checkpoint_every: int = Field(50, ge=1)
    log_every: int = Field(10, ge=1)
    seed: int = 1337
    lora: LoraSettings | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    cpu_threads: int | None = Field(None, ge=1)
    resume: bool = True
    metrics_path: str | None = None
    storage: StorageName = "store"
    storage_args: StoreArgs = Field(default_factory=StoreArgs)
    checkpoint_metadata: dict[str, Any] = Field(
        default_factory=dict, description="stored with every checkpoint, e.g. pii_scrubbed"
    )
    data_sha256: str | None = Field(
        None, description="sha256 of the preference file before PII scrubbing (lineage)"
    )


class AlignSection(AlignConfig):
    """`AlignConfig` as a pipeline section: `init_from` is the fine-tune stage's checkpoint."""

    data: str | None = Field(None, description="preference JSONL: prompt/chosen/rejected or chat")
    init_from: str | None = Field(None, description="set by the pipeline: finetune's checkpoint")
