"""DPO on CPU with the tiny preset: implicit-reward accuracy on held-out preference pairs before
and after preference tuning, on a generated task whose preferred answer is checkable.

    .venv/bin/python benchmarks/align.py [--split val] [--arithmetic] [--dpo-steps 300] [--seed 0]

Every kind of pair has a rule that decides which answer is right, and that a model can apply to
prompts it was never preference-tuned on:
  * format:      "Write the word W in capital letters." / "... in small letters.": the word in
                 the stated case is chosen, in the other case rejected;
  * punctuation: "Write the word W followed by a full stop." / "... an exclamation mark.";
  * repeat:      "Write the word W twice." / "... once.": "W W" against "W";
  * parity:      "Is the number N even or odd?" (N = 10..99): the right word against the wrong one.
With `--arithmetic` the task also has "What is a plus b?" (a, b = 1..9; the sum against one off
by 1-2), whose facts SFT teaches on every sum, while DPO sees only the training pairs.

Pairs are split per kind into train (DPO), val (for tuning settings: `--split val`) and held-out
(the report): a val or held-out (word, instruction) or (number) never appears in DPO training.
The base model is pretrained briefly on the Project Gutenberg fixtures (../shared/fixtures), then
instruction-tuned on every rule prompt with the right and the wrong answer in equal measure (it
learns the answer format, not the preference), then DPO-tuned with `corpusforge.model.align`
(TRL's DPOTrainer) through the encrypted store. Reported per kind, with the SFT checkpoint as the
reference: DPO's implicit reward accuracy (ties count half, so 0.5 before any update) and the
policy's own log-likelihood preference, before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

WORDS = (
    "apple river stone cloud garden window candle forest silver bread "
    "music winter paper bottle orange pencil rabbit castle ocean thunder "
    "mirror basket lemon planet copper meadow saddle tunnel violet harbor"
).split()


KINDS = ("format", "punctuation", "repeat", "parity", "arithmetic")


def _format_pairs() -> list[dict]:
    rows = []
    for w in WORDS:
        for case in ("capital", "small"):
            good, bad = (w.upper(), w) if case == "capital" else (w, w.upper())
            rows.append(
                {
                    "prompt": f"Write the word {w} in {case} letters.",
                    "chosen": good,
                    "rejected": bad,
                    "kind": "format",
                }
            )
    return rows


def _arithmetic_pairs(rng: random.Random) -> list[dict]:
    rows = []
    for a in range(1, 10):
        for b in range(1, 10):
            off = rng.choice([-2, -1, 1, 2]) if a + b > 2 else rng.choice([1, 2])
            rows.append(
                {
                    "prompt": f"What is {a} plus {b}?",
                    "chosen": str(a + b),
                    "rejected": str(a + b + off),
                    "kind": "arithmetic",
                }
            )
    return rows


def _word_pairs(kind: str, variants: dict[str, tuple[str, str]]) -> list[dict]:
    """For every word and instruction variant: chosen/rejected as `str.format` templates."""
    return [
        {
            "prompt": f"Write the word {w} {instruction}.",
            "chosen": good.format(w=w),
            "rejected": bad.format(w=w),
            "kind": kind,
        }
        for w in WORDS
        for instruction, (good, bad) in variants.items()
    ]


def _punctuation_pairs() -> list[dict]:
    return _word_pairs(
        "punctuation",
        {
            "followed by a full stop": ("{w}.", "{w}!"),
            "followed by an exclamation mark": ("{w}!", "{w}."),
        },
    )


def _repeat_pairs() -> list[dict]:
    return _word_pairs("repeat", {"twice": ("{w} {w}", "{w}"), "once": ("{w}", "{w} {w}")})


def _parity_pairs() -> list[dict]:
    rows = []
    for n in range(10, 100):
        good, bad = ("even", "odd") if n % 2 == 0 else ("odd", "even")
        rows.append(
            {
                "prompt": f"Is the number {n} even or odd?",
                "chosen": good,
                "rejected": bad,
                "kind": "parity",
            }
        )
    return rows


def pairs(seed: int, arithmetic: bool = False) -> dict[str, list[dict]]:
    """train / val / held-out preference rows, split per kind (so each split has both): a
    held-out or validation pair's (word, case) or (a, b) never appears in DPO training."""
    rng = random.Random(seed)
    split: dict[str, list[dict]] = {"train": [], "val": [], "held-out": []}
    kinds = [_format_pairs(), _punctuation_pairs(), _repeat_pairs(), _parity_pairs()]
    for rows in kinds + ([_arithmetic_pairs(rng)] if arithmetic else []):
        rng.shuffle(rows)
        n_held, n_val = len(rows) // 5, len(rows) // 8
        split["held-out"] += rows[:n_held]
        split["val"] += rows[n_held : n_held + n_val]
        split["train"] += rows[n_held + n_val :]
    for rows in split.values():
        rng.shuffle(rows)
    return split


def sft_rows(seed: int, arithmetic: bool = False) -> list[dict]:
    """The instruction-tuning data: every rule prompt with the right and the wrong answer equally
    often (the answer format is learned, the preference is not); with `arithmetic`, every sum
    of the closed domain with its right answer (the facts are taught, the pairs DPO sees not)."""
    rng = random.Random(seed)
    rows = [
        {"prompt": r["prompt"], "response": r[k]}
        for r in _format_pairs() + _punctuation_pairs() + _repeat_pairs() + _parity_pairs()
        for k in ("chosen", "rejected")
    ]
    if arithmetic:
        rows += [{"prompt": r["prompt"], "response": r["chosen"]} for r in _arithmetic_pairs(rng)]
    rng.shuffle(rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fixtures", default=str(Path(__file__).parents[2] / "shared" / "fixtures")
    )
    parser.add_argument("--pretrain-steps", type=int, default=60)
    parser.add_argument("--sft-steps", type=int, default=60)
    parser.add_argument("--dpo-steps", type=int, default=300)
    parser.add_argument("--beta", type=float, default=0.5)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--arithmetic",
        action="store_true",
        help="add the arithmetic pairs (sums of 1-9; the facts taught by SFT) to the task",
    )
    parser.add_argument(
        "--split",
        choices=("held-out", "val"),
        default="held-out",
        help="pairs to report on: tune settings on val, report held-out",
    )
    args = parser.parse_args(argv)
    books = Path(args.fixtures) / "books"
    if not books.is_dir():
        print(f"skipped: the book fixtures are not at {books}")
        return 0

    import torch

    torch.set_num_threads(args.threads)
    # The training tests' corpus helpers: real token shards from the book fixtures.
    sys.path[:0] = [str(Path(__file__).parents[1]), str(Path(__file__).parents[1] / "tests")]
    from corpusforge.model.align import AlignConfig, align, completion_logps, preference_accuracy
    from corpusforge.model.checkpoint import LocalCheckpoint, load_model
    from corpusforge.model.config import SFTConfig, TrainConfig
    from corpusforge.model.pretrain import pretrain
    from corpusforge.model.sft import finetune
    from corpusforge.model.store import bootstrap_store, open_store
    from tests._train_helpers import book_paragraphs, token_shards

    split = pairs(args.seed, args.arithmetic)
    train, held = split["train"], split[args.split]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-align-") as tmp:
        root = Path(tmp)
        shards = token_shards(book_paragraphs(Path(args.fixtures), 200_000), root / "shards")
        store = open_store(root / "ws", bootstrap_store(root / "ws")["svc:trainer"])
        common = dict(preset="tiny", micro_batch_size=16, log_every=20, seed=args.seed)
        meta = {"checkpoint_metadata": {"pii_scrubbed": True}}
        pretrain(
            TrainConfig(
                data=str(shards),
                run_name="base",
                seq_len=128,
                max_steps=args.pretrain_steps,
                eval_every=args.pretrain_steps,
                checkpoint_every=args.pretrain_steps,
                **common,
                **meta,
            ),
            store,
        )
        base = f"runs/base/step-{args.pretrain_steps:07d}"
        sft_file = root / "sft.jsonl"
        sft_file.write_text(
            "".join(json.dumps(r) + "\n" for r in sft_rows(args.seed, args.arithmetic))
        )
        finetune(
            SFTConfig(
                data=str(sft_file),
                init_from=base,
                run_name="sft",
                seq_len=64,
                max_steps=args.sft_steps,
                eval_every=args.sft_steps,
                checkpoint_every=args.sft_steps,
                lr=2e-3,
                **common,
                **meta,
            ),
            store,
        )
        sft = f"runs/sft/step-{args.sft_steps:07d}"
        prefs = root / "prefs.jsonl"
        prefs.write_text("".join(json.dumps(r) + "\n" for r in train))
        t_dpo = time.perf_counter()
        summary = align(
            AlignConfig(
                data=str(prefs),
                init_from=sft,
                run_name="dpo",
                max_steps=args.dpo_steps,
                micro_batch_size=8,
                lr=args.lr,
                beta=args.beta,
                warmup_steps=10,
                eval_every=args.dpo_steps,
                checkpoint_every=args.dpo_steps,
                log_every=25,
                val_fraction=0.05,
                seed=args.seed,
                **meta,
            ),
            store,
        )
        dpo_seconds = time.perf_counter() - t_dpo
        from transformers import AutoTokenizer

        with LocalCheckpoint(store, sft) as path:
            tok = AutoTokenizer.from_pretrained(path)
            chat = bool(tok.chat_template)
            ref_model = load_model(path)
        with LocalCheckpoint(store, summary["checkpoint"]) as path:
            policy_model = load_model(path)
        from corpusforge.model.align import preference_row

        rows = [preference_row(r, args.split, chat) for r in held]
        ref = completion_logps(ref_model, tok, rows)
        pol = completion_logps(policy_model, tok, rows)
    total = time.perf_counter() - t0

    print(
        f"tiny preset on CPU ({args.threads} thread(s)), torch {torch.__version__}; "
        f"{len(train)} train / {len(held)} {args.split} pairs; "
        f"pretrain {args.pretrain_steps} steps, "
        f"SFT {args.sft_steps}, DPO {args.dpo_steps} (beta {args.beta}, lr {args.lr})"
    )
    print(
        f"{args.split + ' pairs':<22}{'n':>4}  "
        f"{'implicit reward acc':>28}  {'policy log-lik pref':>28}"
    )
    for kind in ("all", *KINDS):
        idx = [i for i, r in enumerate(held) if kind == "all" or r["kind"] == kind]
        if not idx:
            continue
        before = preference_accuracy(ref[idx], ref[idx], args.beta)
        after = preference_accuracy(pol[idx], ref[idx], args.beta)
        own_b, own_a = preference_accuracy(ref[idx]), preference_accuracy(pol[idx])
        print(
            f"{kind:<22}{len(idx):>4}  {before:>12.3f} -> {after:<12.3f}  "
            f"{own_b:>12.3f} -> {own_a:<12.3f}"
        )
    print(
        f"TRL eval (rewards/accuracies, ties count 0) on its {summary.get('step')}-step run's "
        f"held-out split: {summary.get('reward_accuracy')}"
    )
    print(f"DPO {dpo_seconds:.0f} s; whole benchmark {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
