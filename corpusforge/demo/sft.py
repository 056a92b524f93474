"""The demo corpus's instruction-tuning rows: `sft/instructions.jsonl`.

Instruction pairs (``prompt``/``response``) and chat rows (``messages``); some prompts carry fake
personal data or secrets a user pasted, and one exact and one near duplicate row are planted.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from corpusforge.demo.common import seeded_rng
from corpusforge.demo.planted import Ledger, Pii, perturb
from corpusforge.demo.prose import TOPICS, Prose

SFT_FILE = "sft/instructions.jsonl"


def _sft_rows(seed: int, scale: int, ledger: Ledger) -> tuple[list[dict], list[Counter], dict]:
    rng = seeded_rng(seed, "sft")
    pii = Pii(rng)
    rows: list[dict[str, Any]] = []
    tallies = []
    names = sorted(TOPICS)
    n_plain, n_pii, n_chat = 30 * scale, 12 * scale, 8 * scale
    for i in range(n_plain):
        topic = TOPICS[names[i % len(names)]]
        prose = Prose(rng, topic, None, rng.choice(["news", "blog"]))
        ask = rng.choice(
            [
                f"Write a short blog post about {rng.choice(topic.headlines)}.",
                f"Summarize the main arguments for and against the {prose.noun()} proposal.",
                f"Explain to a beginner how {prose.nps()} affect {prose.nps()}.",
                f"Give me three practical tips about {prose.noun(True)}.",
                f"Draft an opening paragraph for a report on {rng.choice(topic.headlines)}.",
            ]
        )
        if ask.startswith("Give me three"):
            answer = "\n".join(f"{k}. {prose.sentence()}" for k in (1, 2, 3))
            answer += "\n\n" + prose.paragraph(3, 5)
        else:
            answer = "\n\n".join(prose.paragraphs(rng.randint(3, 5), 3, 5))
        rows.append({"prompt": ask, "response": answer})
        tallies.append(pii.take())
    for i in range(n_pii):
        topic = TOPICS[names[(i * 5) % len(names)]]
        prose = Prose(rng, topic, None, "blog")
        kind = i % 6
        if kind == 0:
            me = pii.new_person()
            addr = pii.address("us")
            prompt = (
                f"My name is {pii.name(me)} and I rent the flat at {addr}. The {prose.noun()} "
                f"has been broken for three weeks. Write a firm but polite letter to my landlord."
            )
            response = (
                f"{pii.name(me)}\n{addr}\n\nDear landlord,\n\n{prose.paragraph(3, 4)}\n\n"
                f"Please reply to {pii.email(me)} or call {pii.phone()}.\n\nYours sincerely,\n"
                f"{pii.name(me)}"
            )
            pii.counts["STREET_ADDRESS"] += 1  # the address appears twice
            pii.subtypes["STREET_ADDRESS/us"] += 1
        elif kind == 1:
            prompt = (
                "Why does `aws s3 ls` say InvalidAccessKeyId? My config:\n```\n[default]\n"
                f"aws_access_key_id = {pii.aws_key()}\naws_secret_access_key = {pii.aws_secret()}"
                "\nregion = us-east-1\n```"
            )
            response = (
                "The key ID is not recognised by the account you are calling. Check that the "
                "key is still active in IAM, that no environment variable overrides the file, "
                "and rotate the key now: you have pasted a secret into a chat.\n\n"
                + prose.paragraph(3, 5)
            )
        elif kind == 2:
            who = pii.new_person()
            prompt = (
                "Extract the contact details from this e-mail signature as JSON:\n\n"
                f"-- \n{pii.name(who)}\n{rng.choice(topic.roles).title()}, {prose.org()[4:]}\n"
                f"{pii.phone()} | {pii.email(who)}"
            )
            response = (
                '{"name": "[NAME]", "title": "...", "phone": "[PHONE]", "email": "[EMAIL]"}\n\n'
                "I replaced the personal values with placeholders; the structure is what matters."
            )
        elif kind == 3:
            prompt = (
                f"Summarize this customer complaint: I was charged twice on my card "
                f"{pii.card()} for order {rng.randint(100000, 999999)}. {prose.paragraph(3, 5)}"
            )
            response = prose.paragraph(3, 5) + " The customer asks for one charge to be refunded."
        elif kind == 4:
            a, b = pii.ipv4(), pii.ipv6()
            prompt = (
                f"My web server at {a} answers on IPv4 but not on {b}. The firewall allows "
                f"port 443 on both. What should I check?"
            )
            response = (
                "Check that the server listens on the IPv6 address (`ss -ltnp`), that the AAAA "
                "record points to it, and that the IPv6 firewall chain has the same rule. "
                + prose.paragraph(3, 5)
            )
        else:
            token = pii.github_token() if rng.random() < 0.5 else pii.openai_key()
            prompt = (
                f'This script fails with 401:\n```python\nimport requests\nTOKEN = "{token}"\n'
                "r = requests.get(URL, headers={'Authorization': f'Bearer {TOKEN}'})\n```\n"
                f"Can you fix it? Also, who is {pii.name(style='caps')} in the commit log?"
            )
            response = (
                "Revoke that token first: it is now exposed. Then read the token from an "
                "environment variable instead of the source file. " + prose.paragraph(3, 5)
            )
        rows.append({"prompt": prompt, "response": response})
        tallies.append(pii.take())
    for i in range(n_chat):
        topic = TOPICS[names[(i * 7) % len(names)]]
        prose = Prose(rng, topic, None, "blog")
        msgs = []
        if i % 2 == 0:
            msgs.append({"role": "system", "content": "You are a helpful, concise assistant."})
        if i % 4 == 1:
            me = pii.new_person()
            first = (
                f"Hi, I'm {pii.name(me)} ({pii.email(me)}). Can you help me plan "
                f"{rng.choice(topic.headlines)}?"
            )
        else:
            first = f"Can you help me understand {rng.choice(topic.headlines)}?"
        msgs += [
            {"role": "user", "content": first},
            {"role": "assistant", "content": prose.paragraph(4, 6)},
            {"role": "user", "content": f"What about the {prose.noun()}?"},
            {"role": "assistant", "content": prose.paragraph(3, 5)},
        ]
        rows.append({"messages": msgs})
        tallies.append(pii.take())
    order = list(range(len(rows)))
    rng.shuffle(order)
    rows = [rows[k] for k in order]
    tallies = [tallies[k] for k in order]
    # one exact and one near duplicate row
    exact_src = next(k for k, r in enumerate(rows) if "prompt" in r and not tallies[k][0])
    near_src = next(
        k for k, r in enumerate(rows) if "prompt" in r and not tallies[k][0] and k != exact_src
    )
    rows.append(dict(rows[exact_src]))
    tallies.append(tallies[exact_src])
    near = dict(rows[near_src])
    near["response"], edits = perturb(near["response"], rng, 0.06)
    rows.append(near)
    tallies.append(tallies[near_src])
    docs = [
        ledger.add("dataset", SFT_FILE, str(k), SFT_FILE, "chat" if "messages" in r else "pair", t)
        for k, (r, t) in enumerate(zip(rows, tallies, strict=True))
    ]
    ledger.exact.append(
        {"kind": "sft_row", "a": docs[exact_src].ref(), "b": docs[len(rows) - 2].ref()}
    )
    ledger.near.append(
        {"kind": "sft_row_near", "a": docs[near_src].ref(), "b": docs[-1].ref(), "edits": edits}
    )
    summary = {
        "files": [SFT_FILE],
        "rows": len(rows),
        "pair_rows": sum(1 for r in rows if "prompt" in r),
        "chat_rows": sum(1 for r in rows if "messages" in r),
    }
    return rows, tallies, summary


def write_sft(root: Path, seed: int, scale: int, ledger: Ledger) -> dict[str, Any]:
    """Write the rows as JSON lines; returns the SFT summary (with ``bytes_uncompressed``)."""
    rows, _, summary = _sft_rows(seed, scale, ledger)
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    (root / SFT_FILE).write_bytes(data)
    summary["bytes_uncompressed"] = len(data)
    return summary
