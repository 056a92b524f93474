"""Sampling from a stored checkpoint: temperature, top-k, top-p (nucleus) and a seed.

A small loop of our own rather than `model.generate`, so that the same seed gives the same
tokens on every machine and version (the sampler draws from one seeded torch.Generator).
"""

from __future__ import annotations

from typing import Any

import torch

from corpusforge.core.errors import ConfigError
from corpusforge.model.checkpoint import LocalCheckpoint, load_model
from corpusforge.model.storage import CheckpointStorage
from corpusforge.pipeline.special_tokens import END_OF_TURN, EOT


def filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Mask (to -inf) tokens outside the top-k and outside the smallest top-p mass."""
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[..., -1, None]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        drop = cum - torch.softmax(sorted_logits, dim=-1) >= top_p  # keep the token crossing p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@torch.no_grad()
def sample(
    model: torch.nn.Module,
    input_ids: list[int],
    *,
    max_new_tokens: int = 64,
    temperature: float = 0.8,
    top_k: int | None = 50,
    top_p: float | None = 0.95,
    seed: int = 0,
    stop_ids: set[int] | None = None,
) -> list[int]:
    """New token ids after `input_ids` (greedy when temperature is 0)."""
    if temperature < 0 or (top_p is not None and not 0 < top_p <= 1):
        raise ConfigError("temperature must be >= 0 and top_p in (0, 1]")
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    ids = torch.tensor([input_ids], device=device)
    window = getattr(model.config, "max_position_embeddings", None) or ids.size(1) + max_new_tokens
    past, out = None, []
    for _ in range(max_new_tokens):
        if ids.size(1) > window:  # beyond the trained context: restart on the last window
            ids, past = ids[:, -window:], None
        step_in = ids if past is None else ids[:, -1:]
        result = model(input_ids=step_in, cache=past, use_cache=True)
        past = getattr(result, "cache", None) or result.past_key_values
        logits = result.logits[0, -1].float().cpu()
        if temperature == 0:
            next_id = int(logits.argmax())
        else:
            probs = torch.softmax(filter_logits(logits / temperature, top_k, top_p), dim=-1)
            next_id = int(torch.multinomial(probs, 1, generator=gen))
        out.append(next_id)
        if stop_ids and next_id in stop_ids:
            break
        ids = torch.cat([ids, torch.tensor([[next_id]], device=device)], dim=1)
    return out


def stop_ids_for(tokenizer: Any) -> set[int]:
    """End of text and end of turn both end a completion."""
    ids = {tokenizer.convert_tokens_to_ids(t) for t in (EOT, END_OF_TURN)}
    return {i for i in ids if i is not None and i != tokenizer.unk_token_id}


def generate(
    storage: CheckpointStorage,
    checkpoint: str,
    prompt: str,
    *,
    chat: bool = True,
    max_new_tokens: int = 64,
    temperature: float = 0.8,
    top_k: int | None = 50,
    top_p: float | None = 0.95,
    seed: int = 0,
) -> str:
    """Completion of `prompt` by stored `checkpoint` (as a chat turn when the tokenizer has a
    chat template and `chat` is true)."""
    from transformers import AutoTokenizer

    with LocalCheckpoint(storage, checkpoint) as path:
        tokenizer = AutoTokenizer.from_pretrained(
            path, local_files_only=True, trust_remote_code=False
        )
        model = load_model(path)
    if chat and tokenizer.chat_template:
        out = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}],
            tokenize=True,
            add_generation_prompt=True,
            return_dict=False,
        )
        ids = list(out["input_ids"] if isinstance(out, dict) else out)
    else:
        ids = tokenizer.encode(prompt, add_special_tokens=False)
    new = sample(
        model,
        ids,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
        stop_ids=stop_ids_for(tokenizer),
    )
    return tokenizer.decode(new, skip_special_tokens=True)
