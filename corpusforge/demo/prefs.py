"""The demo's preference pairs (`corpusforge demo --with-align`): `prefs/preferences.jsonl`.

A task whose preferred answer is checkable: "Write the word W in capital (small) letters." with
the word in the asked case as `chosen` and in the other case as `rejected`. Some prompts carry
fake personal data a user pasted (a name and an e-mail address), which the PII stage replaces in
the prompt, the chosen and the rejected text before the DPO job sees them. Written apart from
`write_sample`, so the sample corpus (and its recorded hashes) is the same with or without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from corpusforge.demo.common import seeded_rng
from corpusforge.demo.planted import Pii
from corpusforge.demo.resources import load_json

PREFS_FILE = "prefs/preferences.jsonl"


def preference_rows(seed: int = 0, n: int = 96, pii_every: int = 8) -> list[dict[str, Any]]:
    """`n` pairs over the demo's word lists; every `pii_every`-th prompt names its writer."""
    rng = seeded_rng(seed, "prefs")
    pii = Pii(rng)
    words = load_json("words.json")
    vocab = sorted(
        {
            w
            for key in ("generic_verbs", "generic_adjectives", "adverbs")
            for w in words[key]
            if w.isalpha()
        }
    )
    rows = []
    for i, word in enumerate(rng.sample(vocab, min(n, len(vocab)))):
        case = "capital" if i % 2 == 0 else "small"
        good, bad = (word.upper(), word) if case == "capital" else (word, word.upper())
        prompt = f"Write the word {word} in {case} letters."
        if pii_every and i % pii_every == 0:
            me = pii.new_person()
            prompt = f"I am {pii.name(me)} ({pii.email(me)}). {prompt}"
        rows.append({"prompt": prompt, "chosen": good, "rejected": bad})
    return rows


def write_preferences(out_dir: Path, seed: int = 0) -> Path:
    """Write the preference pairs under `out_dir`; returns the file."""
    path = Path(out_dir) / PREFS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = preference_rows(seed)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
