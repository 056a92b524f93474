"""Fine-tuning: response-only labels, SFT and LoRA runs, merge-and-export equality, sampling."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from corpusforge.model.checkpoint import LocalCheckpoint
from corpusforge.model.generate import filter_logits, generate
from corpusforge.model.loop import flops_per_token, train
from corpusforge.model.pretrain import pretrain
from corpusforge.model.runtime import setup_runtime
from corpusforge.model.sft import encode_conversation, finetune, prepare_sft, read_sft_rows
from corpusforge.pipeline.special_tokens import ASSISTANT, END_OF_TURN
from tests._train_helpers import (  # noqa: F401 (one_torch_thread: autouse)
    book_paragraphs,
    one_torch_thread,
    open_test_store,
    sft_config,
    tiny_config,
    token_shards,
)

QUESTIONS = [
    ("What colour is the sky on a clear day?", "The sky is blue on a clear day."),
    ("Name a season that comes after spring.", "Summer comes after spring."),
    ("How many legs does a cat have?", "A cat has four legs."),
    ("What do bees make?", "Bees make honey."),
    ("Where does the sun rise?", "The sun rises in the east."),
]


@pytest.fixture(scope="module")
def base(fixtures_dir, tmp_path_factory):
    """A briefly pretrained tiny model in a store, and an SFT file in both row formats."""
    root = tmp_path_factory.mktemp("sft")
    shards = token_shards(book_paragraphs(fixtures_dir, limit_chars=150_000), root / "shards")
    store = open_test_store(root / "ws")
    config = tiny_config(
        root, data=str(shards), run_name="base", max_steps=4, checkpoint_every=4, eval_every=4
    )
    pretrain(config, store)
    rows = [{"prompt": q, "response": a} for q, a in QUESTIONS * 3]
    rows += [
        {
            "messages": [{"role": "system", "content": "Be brief."}]
            + [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        }
        for q, a in QUESTIONS
    ]
    data = root / "sft.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return store, data, "runs/base/step-0000004", root


def test_labels_cover_only_assistant_turns(base):
    store, _, name, _ = base
    with LocalCheckpoint(store, name) as path:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(path)
    messages = [
        {"role": "user", "content": "Say hi."},
        {"role": "assistant", "content": "Hi there."},
        {"role": "user", "content": "Again."},
        {"role": "assistant", "content": "Hello."},
    ]
    ids, labels = encode_conversation(tok, messages, 10_000)
    assert len(ids) == len(labels)
    learned = [i for i, lab in zip(ids, labels, strict=True) if lab != -100]
    assert tok.decode(learned) == f"Hi there.{END_OF_TURN}\nHello.{END_OF_TURN}\n"
    masked = tok.decode([i for i, lab in zip(ids, labels, strict=True) if lab == -100])
    assert "Say hi." in masked and "Again." in masked and masked.count(ASSISTANT) == 2
    assert all(lab in (-100, i) for i, lab in zip(ids, labels, strict=True))


def test_full_finetune_lowers_val_loss_on_responses(base, tmp_path):
    store, data, name, _ = base
    config = sft_config(tmp_path, data, name, run_name="sft-full", lr=3e-3)
    losses = []
    finetune(config, store, on_step=lambda r: losses.append(r["loss"]))
    assert len(losses) == 12 and losses[-1] < losses[0]
    listing = [c["name"] for c in store.list_checkpoints("runs/sft-full/")]
    assert listing == ["runs/sft-full/step-0000006", "runs/sft-full/step-0000012"]


def test_full_finetune_resumes_bit_identically_from_its_sharded_checkpoint(base, tmp_path):
    """Its own sharded checkpoint gives the weights (read after wrapping); the base is fetched
    for its tokenizer and configs only."""
    store, data, name, _ = base

    def run(run_name: str, steps: int) -> dict[int, float]:
        config = sft_config(
            tmp_path, data, name, run_name=run_name, max_steps=steps, checkpoint_every=2
        )
        losses: dict[int, float] = {}
        finetune(config, store, on_step=lambda r: losses.__setitem__(r["step"], r["loss"]))
        return losses

    straight = run("sft-straight", 4)
    run("sft-resumed", 2)
    resumed = run("sft-resumed", 4)  # same run name: resumes from step 2
    assert sorted(resumed) == [3, 4] and resumed == {s: straight[s] for s in (3, 4)}


def test_lora_merge_and_export_reproduces_adapter_logits(base, tmp_path):
    from transformers import AutoModelForCausalLM

    store, data, name, _ = base
    config = sft_config(
        tmp_path,
        data,
        name,
        run_name="sft-lora",
        max_steps=6,
        lr=1e-2,
        lora={"rank": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj", "down_proj"]},
    )
    config = config.model_copy(update={"metrics_path": str(tmp_path / "lora.jsonl")})
    job = prepare_sft(config, store, setup_runtime(config))
    trainable = sum(p.numel() for p in job.raw_model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in job.raw_model.parameters())
    assert 0 < trainable < 0.2 * total
    # frozen weights: forward + activation gradient (4 FLOPs), adapters: 6
    cfg = job.raw_model.config
    assert flops_per_token(job.raw_model, 16) == 6 * trainable + 4 * (total - trainable) + (
        12 * cfg.num_hidden_layers * cfg.hidden_size * 16
    )
    replay = copy.deepcopy(job.next_batch.__self__)  # the same batches, to count their widths
    widths = [replay.next_batch()[0].shape for _ in range(config.max_steps)]
    train(job)
    rows = [json.loads(line) for line in (tmp_path / "lora.jsonl").read_text().splitlines()]
    # throughput counts the padded batches' real widths, not micro_batch x block_size
    seen = sum(b * w for b, w in widths)
    assert [r["tokens_seen"] for r in rows if r["kind"] == "train"][-1] == seen
    assert seen < config.max_steps * config.micro_batch_size * config.block_size

    from peft import PeftModel

    with (
        LocalCheckpoint(store, "runs/sft-lora/step-0000006") as path,
        LocalCheckpoint(store, name) as base_path,
    ):
        merged = AutoModelForCausalLM.from_pretrained(path)
        original = AutoModelForCausalLM.from_pretrained(base_path)
        adapter_config = json.loads((path / "adapter" / "adapter_config.json").read_text())
        assert (path / "adapter" / "adapter_model.safetensors").is_file()
        assert adapter_config["base_model_name_or_path"] == name
        assert adapter_config["r"] == 4
        # the adapter on top of the base checkpoint's export, loaded by peft itself
        with_adapter = PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(base_path), path / "adapter"
        )
    ids = torch.tensor([[5, 17, 42, 99, 300, 7, 8]])
    job.raw_model.eval()
    with_adapter.eval()
    with torch.no_grad():
        adapted = job.raw_model(input_ids=ids).logits
        exported = merged(input_ids=ids).logits
        before = original(input_ids=ids).logits
        peft_loaded = with_adapter(input_ids=ids).logits
    assert not torch.allclose(adapted, before, atol=1e-4)  # the adapters learned something
    assert torch.allclose(exported, adapted, atol=1e-5)
    assert torch.allclose(peft_loaded, exported, atol=1e-5)
    assert not any("lora" in k for k in merged.state_dict())


def test_generation_is_seeded(base):
    store, _, name, _ = base
    kwargs = dict(max_new_tokens=12, temperature=1.0, top_k=50, top_p=0.9)
    a = generate(store, name, "Tell me a story.", seed=7, **kwargs)
    b = generate(store, name, "Tell me a story.", seed=7, **kwargs)
    others = {generate(store, name, "Tell me a story.", seed=s, **kwargs) for s in (1, 2, 3)}
    assert a == b and len(others | {a}) > 1
    greedy = generate(store, name, "Tell me a story.", max_new_tokens=8, temperature=0)
    assert greedy == generate(store, name, "Tell me a story.", max_new_tokens=8, top_k=1, seed=9)


def test_top_k_and_top_p_filtering():
    logits = torch.tensor([4.0, 3.0, 2.0, 1.0, 0.0])
    assert torch.isinf(filter_logits(logits, 2, None)).tolist() == [False, False, True, True, True]
    probs = torch.softmax(logits, -1)  # 0.64, 0.24, 0.09, ...
    kept = ~torch.isinf(filter_logits(logits, None, 0.8))
    assert kept.tolist() == [True, True, False, False, False] and probs[0] < 0.8


def test_sft_rows_both_formats(base):
    _, data, _, _ = base
    rows = read_sft_rows(data)
    assert (
        len(rows) == 20 and rows[0][-1]["role"] == "assistant" and rows[-1][0]["role"] == "system"
    )
