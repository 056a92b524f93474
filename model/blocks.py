"""The training model: Llama blocks of our own, written for `torch.compile`, with HF weights.

`CausalLM` computes exactly what transformers' `LlamaForCausalLM` computes (RMSNorm, rotary
embeddings, grouped-query attention, SwiGLU MLP, tied embeddings) but is shaped for training
speed:

* Q/K/V are one matmul (`self_attn.qkv_proj`) and the MLP's gate and up projections another
  (`mlp.gate_up_proj`): fewer, larger GEMMs.
* Attention is `scaled_dot_product_attention(is_causal=True)` with no mask tensor and no KV
  cache, so PyTorch picks the flash or cuDNN kernel on a GPU.
* RMSNorm and rotary embeddings are plain tensor code over precomputed cos/sin tables, which
  `torch.compile` fuses into the surrounding kernels.
* The loss is computed inside the forward (so inside the compiled region) by
  `chunked_cross_entropy`: the vocabulary projection and cross-entropy run over chunks of rows
  and the gradient is formed chunk by chunk, so the full [tokens, vocab] fp32 logits tensor
  never exists.

Checkpoints stay Hugging Face checkpoints: `to_hf_state_dict` slices the fused matrices back
into `q_proj`/`k_proj`/`v_proj` and `gate_proj`/`up_proj` under the HF parameter names (a copy,
no arithmetic), `from_hf_state_dict` concatenates them, and the tests check that the logits
equal `LlamaForCausalLM`'s on the same weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

IGNORE_INDEX = -100
# Rows of logits per chunk of the loss: chunk × vocab × 4 bytes stays near this budget.
LOSS_CHUNK_BYTES = 256 * 2**20


def _rope_theta(config: Any) -> float:
    params = getattr(config, "rope_parameters", None) or {}
    return float(params.get("rope_theta", getattr(config, "rope_theta", 10000.0)))


def _head_dim(config: Any) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


class RMSNorm(nn.Module):
    """Llama's RMSNorm (statistics in fp32, scaled in the input dtype)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(dtype)


def rope_tables(config: Any, device: torch.device | None = None) -> tuple[torch.Tensor, ...]:
    """fp32 cos and sin [positions, head_dim] of Llama's default rotary embedding."""
    dim = _head_dim(config)
    inv_freq = 1.0 / (
        _rope_theta(config) ** (torch.arange(0, dim, 2, dtype=torch.float, device=device) / dim)
    )
    positions = torch.arange(config.max_position_embeddings, dtype=torch.float, device=device)
    freqs = positions[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, H, T, D] rotated by positions 0..T-1 (fp32 tables; result in fp32)."""
    return x * cos + _rotate_half(x) * sin


class Attention(nn.Module):
    def __init__(self, config: Any):
        super().__init__()
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = _head_dim(config)
        d = config.hidden_size
        self.qkv_proj = nn.Linear(d, (self.heads + 2 * self.kv_heads) * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.heads * self.head_dim, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        kv = self.kv_heads * self.head_dim
        q, k, v = self.qkv_proj(x).split([self.heads * self.head_dim, kv, kv], dim=-1)
        q = q.view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = k.view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = v.view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q = apply_rope(q, cos, sin).to(v.dtype)
        k = apply_rope(k, cos, sin).to(v.dtype)
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, enable_gqa=self.kv_heads != self.heads
        )
        return self.o_proj(y.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


class MLP(nn.Module):
    def __init__(self, config: Any):
        super().__init__()
        self.intermediate = config.intermediate_size
        self.gate_up_proj = nn.Linear(config.hidden_size, 2 * self.intermediate, bias=False)
        self.down_proj = nn.Linear(self.intermediate, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, config: Any):
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Decoder(nn.Module):
    """`model.*` of the HF layout: embeddings, blocks, final norm, rotary tables."""

    def __init__(self, config: Any):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(Block(config) for _ in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        cos, sin = rope_tables(config)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        t = input_ids.shape[1]
        cos, sin = self.rope_cos[:t], self.rope_sin[:t]
        x = self.embed_tokens(input_ids)
        for block in self.layers:
            x = block(x, cos, sin)
        return self.norm(x)


class CausalLM(nn.Module):
    """Llama causal LM for training; `forward(ids)` gives logits, `forward(ids, targets)` the
    summed cross-entropy over targets != -100."""

    computes_loss = True  # the training loop passes targets and gets the loss back

    def __init__(self, config: Any):
        super().__init__()
        self.config = config
        self.model = Decoder(config)
        if not config.tie_word_embeddings:
            self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        std = getattr(self.config, "initializer_range", 0.02)
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.embed_tokens

    def output_weight(self) -> torch.Tensor:
        if self.config.tie_word_embeddings:
            return self.model.embed_tokens.weight
        return self.lm_head.weight

    def reset_rope(self) -> None:
        """Recompute the rotary tables (after building the model on the meta device)."""
        cos, sin = rope_tables(self.config, device=self.model.embed_tokens.weight.device)
        self.model.rope_cos, self.model.rope_sin = cos, sin

    def forward(self, input_ids: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        h = self.model(input_ids)
        weight = self.output_weight()
        if targets is None:
            return F.linear(h, weight)
        return chunked_cross_entropy(h.flatten(0, 1), weight, targets.flatten())

    # -- Hugging Face weights -------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path) -> CausalLM:
        """A local Hugging Face Llama checkpoint (config.json + model.safetensors)."""
        from safetensors.torch import load_file
        from transformers import LlamaConfig

        config = LlamaConfig.from_pretrained(path, local_files_only=True)
        with torch.device("meta"):
            model = cls(config)
        state = from_hf_state_dict(load_file(Path(path) / "model.safetensors"), config)
        model.load_state_dict(state, strict=True, assign=True)
        model.reset_rope()
        return model

    def save_pretrained(
        self, out_dir: Path, state_dict: dict[str, torch.Tensor] | None = None
    ) -> None:
        """config.json + model.safetensors that `LlamaForCausalLM.from_pretrained` loads."""
        from safetensors.torch import save_file

        config = self.config.__class__.from_dict(self.config.to_dict())
        config.architectures = ["LlamaForCausalLM"]
        config.save_pretrained(out_dir)
        state = to_hf_state_dict(state_dict or self.state_dict(), self.config)
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in state.items()},
            str(Path(out_dir) / "model.safetensors"),
            metadata={"format": "pt"},
        )


# --- HF parameter names --------------------------------------------------------------------


def _qkv_sizes(config: Any) -> list[int]:
    hd = _head_dim(config)
    return [
        config.num_attention_heads * hd,
        config.num_key_value_heads * hd,
        config.num_key_value_heads * hd,
    ]


def to_hf_state_dict(state: dict[str, torch.Tensor], config: Any) -> dict[str, torch.Tensor]:
    """Our parameter names -> LlamaForCausalLM's (fused matrices sliced, values unchanged)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith("self_attn.qkv_proj.weight"):
            stem = key[: -len("qkv_proj.weight")]
            for name, part in zip(
                ("q_proj", "k_proj", "v_proj"), value.split(_qkv_sizes(config)), strict=True
            ):
                out[f"{stem}{name}.weight"] = part
        elif key.endswith("mlp.gate_up_proj.weight"):
            stem = key[: -len("gate_up_proj.weight")]
            gate, up = value.chunk(2)
            out[f"{stem}gate_proj.weight"], out[f"{stem}up_proj.weight"] = gate, up
        else:
            out[key] = value
    return out


def from_hf_state_dict(state: dict[str, torch.Tensor], config: Any) -> dict[str, torch.Tensor]:
    """LlamaForCausalLM's parameter names -> ours (q/k/v and gate/up concatenated)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith(("k_proj.weight", "v_proj.weight", "up_proj.weight")):
            continue  # joined with their q_proj / gate_proj below
        if "rotary_emb" in key or (key == "lm_head.weight" and config.tie_word_embeddings):
            continue  # recomputed / the tied embedding
        if key.endswith("self_attn.q_proj.weight"):
            stem = key[: -len("q_proj.weight")]
            out[f"{stem}qkv_proj.weight"] = torch.cat(
                [state[f"{stem}{n}_proj.weight"] for n in "qkv"]
            )
        elif key.endswith("mlp.gate_proj.weight"):
            stem = key[: -len("gate_proj.weight")]
            out[f"{stem}gate_up_proj.weight"] = torch.cat([value, state[f"{stem}up_proj.weight"]])
        else:
            out[key] = value
    return out


# --- the loss --------------------------------------------------------------------------------


def _loss_dtype(h: torch.Tensor) -> torch.dtype:
    """The matmul dtype: autocast's (bf16 on GPU) when it is on, else the activations'."""
    device = h.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return h.dtype


def _chunk_rows(vocab: int) -> int:
    return max(1, LOSS_CHUNK_BYTES // (4 * vocab))


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    """sum(cross_entropy(h @ W.T, targets)) with the gradient formed chunk by chunk in the
    forward (softmax - one_hot, then into dh and dW), so only one chunk of fp32 logits exists
    at a time and the backward is a scaling of the stored gradients."""

    @staticmethod
    def forward(ctx, h, weight, targets, dtype, rows):  # noqa: ANN001 (autograd signature)
        hc, wc = h.to(dtype), weight.to(dtype)
        grad_h = torch.empty_like(h)
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        for start in range(0, h.shape[0], rows):
            x, t = hc[start : start + rows], targets[start : start + rows]
            logits = (x @ wc.t()).float()
            valid = t != IGNORE_INDEX
            safe = torch.where(valid, t, 0)
            lse = torch.logsumexp(logits, dim=-1)
            picked = logits.gather(1, safe[:, None]).squeeze(1)
            total += torch.where(valid, lse - picked, 0.0).sum()
            grad = logits.sub_(lse[:, None]).exp_()  # softmax, in place of the logits
            grad.scatter_add_(1, safe[:, None], -torch.ones_like(grad[:, :1]))
            grad = (grad * valid[:, None]).to(dtype)
            grad_h[start : start + rows] = (grad @ wc).to(h.dtype)
            grad_w += (grad.t() @ x).float()
        ctx.save_for_backward(grad_h, grad_w)
        ctx.weight_dtype = weight.dtype
        return total

    @staticmethod
    def backward(ctx, grad_out):  # noqa: ANN001
        grad_h, grad_w = ctx.saved_tensors
        return (
            grad_h * grad_out.to(grad_h.dtype),
            (grad_w * grad_out).to(ctx.weight_dtype),
            None,
            None,
            None,
        )


def chunked_cross_entropy(
    h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, rows: int | None = None
) -> torch.Tensor:
    """Summed cross-entropy of the logits h @ weight.T [N, V] against targets [N] (-100
    ignored), computed `rows` rows at a time without materialising the full logits."""
    rows = rows or _chunk_rows(weight.shape[0])
    dtype = _loss_dtype(h)
    if torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad):
        return _ChunkedLinearCrossEntropy.apply(h, weight, targets, dtype, rows)
    total = torch.zeros((), dtype=torch.float32, device=h.device)
    hc, wc = h.to(dtype), weight.to(dtype)
    for start in range(0, h.shape[0], rows):
        logits = (hc[start : start + rows] @ wc.t()).float()
        total += F.cross_entropy(
            logits, targets[start : start + rows], ignore_index=IGNORE_INDEX, reduction="sum"
        )
    return total
