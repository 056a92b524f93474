"""The training blocks against transformers' LlamaForCausalLM, the chunked loss against plain
cross-entropy, and the peak-FLOPs table."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from corpusforge.model.blocks import (
    CausalLM,
    chunked_cross_entropy,
    from_hf_state_dict,
    to_hf_state_dict,
)
from corpusforge.model.config import build_llama_config
from corpusforge.model.loop import peak_flops_for
from tests._train_helpers import one_torch_thread  # noqa: F401 (autouse)


def _pair(preset_overrides: dict | None = None):
    from transformers import LlamaForCausalLM

    config = build_llama_config("tiny", 300)
    for k, v in (preset_overrides or {}).items():
        setattr(config, k, v)
    torch.manual_seed(0)
    hf = LlamaForCausalLM(config).eval()
    ours = CausalLM(config).eval()
    ours.load_state_dict(from_hf_state_dict(hf.state_dict(), config), strict=True)
    return hf, ours


@pytest.mark.parametrize("gqa", [False, True])
def test_logits_equal_llama_fp32(gqa):
    hf, ours = _pair({"num_key_value_heads": 2} if gqa else None)
    ids = torch.randint(0, 300, (3, 37))
    with torch.no_grad():
        expected = hf(input_ids=ids).logits
        got = ours(ids)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    # same parameter names and values back out: the HF export is a copy
    back = to_hf_state_dict(ours.state_dict(), ours.config)
    reference = {k: v for k, v in hf.state_dict().items() if k != "lm_head.weight"}
    assert back.keys() == reference.keys()
    assert all(torch.equal(back[k], reference[k]) for k in reference)


def test_logits_close_to_llama_under_bf16_autocast():
    hf, ours = _pair()
    ids = torch.randint(0, 300, (2, 33))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = hf(input_ids=ids).logits.float()
        got = ours(ids).float()
    # bf16 has an 8-bit mantissa: logits of this size agree within 0.02 (measured: equal)
    assert (got - expected).abs().max() < 0.02


def test_export_loads_in_transformers(tmp_path):
    from transformers import AutoModelForCausalLM

    hf, ours = _pair()
    ours.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    again = CausalLM.from_pretrained(tmp_path).eval()
    ids = torch.randint(0, 300, (1, 20))
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=ids).logits, ours(ids), atol=1e-5, rtol=0)
        assert torch.equal(again(ids), ours(ids))


def test_chunked_loss_and_gradients_equal_plain_cross_entropy():
    torch.manual_seed(1)
    h = torch.randn(50, 16, requires_grad=True)
    w = torch.randn(70, 16, requires_grad=True)
    targets = torch.randint(0, 70, (50,))
    targets[::7] = -100
    plain = F.cross_entropy(h @ w.t(), targets, ignore_index=-100, reduction="sum")
    grads = torch.autograd.grad(plain, (h, w))
    chunked = chunked_cross_entropy(h, w, targets, rows=8)  # 7 chunks, the last one short
    torch.testing.assert_close(chunked, plain)
    for got, want in zip(torch.autograd.grad(2.0 * chunked, (h, w)), grads, strict=True):
        torch.testing.assert_close(got, 2.0 * want, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(chunked_cross_entropy(h, w, targets, rows=8), plain)


def test_model_loss_equals_cross_entropy_of_its_logits_and_traces():
    _, ours = _pair()
    ids = torch.randint(0, 300, (2, 16))
    targets = torch.randint(0, 300, (2, 16))
    targets[:, :3] = -100
    with torch.no_grad():
        logits = ours(ids)
    want = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum")
    torch.testing.assert_close(ours(ids, targets), want)
    # the loss traces into one compiled graph with its autograd (no codegen: aot_eager)
    compiled = torch.compile(ours, backend="aot_eager", fullgraph=True)
    loss = compiled(ids, targets)
    loss.backward()
    torch.testing.assert_close(loss, want)
    assert ours.model.embed_tokens.weight.grad is not None


@pytest.mark.parametrize(
    "name,tflops",
    [
        ("NVIDIA H100 80GB HBM3", 989),
        ("NVIDIA H100 PCIe", 756),
        ("NVIDIA H100 NVL", 835),
        ("NVIDIA H200", 989),
        ("NVIDIA GH200 480GB", 989),
        ("NVIDIA A100-SXM4-80GB", 312),
        ("Tesla T4", None),
    ],
)
def test_peak_flops_by_card_name(name, tflops):
    got = peak_flops_for(name)
    assert got == (tflops * 1e12 if tflops else None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_compiled_bf16_training_step_matches_llama_on_gpu():
    """On a GPU: our compiled blocks under bf16 autocast (flash/cuDNN attention, the chunked
    loss in the compiled graph) give the loss and gradients LlamaForCausalLM gives."""
    hf, ours = _pair({"num_key_value_heads": 2})
    hf, ours = hf.cuda().train(), ours.cuda().train()
    ids = torch.randint(0, 300, (4, 64), device="cuda")
    targets = torch.randint(0, 300, (4, 64), device="cuda")
    compiled = torch.compile(ours)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        got = compiled(ids, targets)
        logits = hf(input_ids=ids).logits
    want = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="sum")
    got.backward()
    want.backward()
    assert torch.allclose(got, want, rtol=2e-2)
    ours_grad = to_hf_state_dict({k: p.grad for k, p in ours.named_parameters()}, ours.config)[
        "model.layers.0.self_attn.k_proj.weight"
    ]
    hf_grad = hf.model.layers[0].self_attn.k_proj.weight.grad
    assert torch.nn.functional.cosine_similarity(ours_grad.flatten(), hf_grad.flatten(), 0) > 0.99
