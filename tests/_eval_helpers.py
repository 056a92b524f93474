"""Small benchmark task files of our own, in the column formats of the Hugging Face datasets the
lm-eval harness reads (HellaSwag, ARC, TruthfulQA multiple choice, MMLU)."""

from __future__ import annotations

import json
from pathlib import Path

FACTS = [
    ("What do bees make?", "honey", ["milk", "stone", "glass"]),
    ("Which season comes after spring?", "summer", ["winter", "autumn", "night"]),
    ("How many legs does a cat have?", "four", ["two", "six", "ten"]),
    ("Where does the sun rise?", "in the east", ["in the west", "underground", "at noon"]),
    ("What colour is the sky on a clear day?", "blue", ["green", "red", "black"]),
    ("What does a baker make?", "bread", ["shoes", "cars", "rain"]),
]


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_task_files(root: Path, *, mmlu_subjects: tuple[str, ...] = ("astronomy",)) -> Path:
    """root/{hellaswag,arc_easy,arc_challenge,truthfulqa,mmlu/<subject>}/<split>.jsonl"""
    hellaswag = []
    for i, (q, right, wrong) in enumerate(FACTS):
        endings = [*wrong[:1], right, *wrong[1:]]
        hellaswag.append(
            {
                "ind": i,
                "activity_label": "Questions",
                "ctx_a": f"Someone asks: {q}",
                "ctx_b": "the answer is",
                "ctx": f"Someone asks: {q} the answer is",
                "endings": endings,
                "source_id": f"local-{i}",
                "split": "val",
                "split_type": "indomain",
                "label": "1",
            }
        )
    _jsonl(root / "hellaswag" / "validation.jsonl", hellaswag)
    for name in ("arc_easy", "arc_challenge"):
        arc = [
            {
                "id": f"{name}-{i}",
                "question": q,
                "choices": {"text": [right, *wrong], "label": ["A", "B", "C", "D"]},
                "answerKey": "A",
            }
            for i, (q, right, wrong) in enumerate(FACTS)
        ]
        _jsonl(root / name / "test.jsonl", arc)
    truthful = [
        {
            "question": q,
            "mc1_targets": {"choices": [right, *wrong], "labels": [1, 0, 0, 0]},
            "mc2_targets": {
                "choices": [right, f"It is {right}", *wrong],
                "labels": [1, 1, 0, 0, 0],
            },
        }
        for q, right, wrong in FACTS
    ]
    _jsonl(root / "truthfulqa" / "validation.jsonl", truthful)
    for subject in mmlu_subjects:
        rows = [
            {
                "question": q,
                "subject": subject,
                "choices": [*wrong[:2], right, wrong[2]],
                "answer": 2,
            }
            for q, right, wrong in FACTS
        ]
        _jsonl(root / "mmlu" / subject / "test.jsonl", rows[1:])
        _jsonl(root / "mmlu" / subject / "dev.jsonl", rows[:1])
    return root
