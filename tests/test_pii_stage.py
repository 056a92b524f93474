# ruff: noqa: E501
"""The PII stage over shards, SFT data, review, the flow and CLI, and the no-PII-in-records rule."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from _documents_helpers import seal
from typer.testing import CliRunner

from corpusforge.pipeline.documents import ShardWriter, read_table
from corpusforge.pipeline.manifest import read_manifest
from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.review import review_contexts
from corpusforge.pipeline.pii.stage import pii_job, scrub_sft_jsonl
from corpusforge.pipeline.stage import run_local

# Planted values: none of them may appear anywhere but the input.
PLANTED = {
    "EMAIL_ADDRESS": "zelda.quartermain@example.org",
    "PHONE_NUMBER": "(415) 555-2671",
    "IP_ADDRESS": "203.0.113.77",
    "CREDIT_CARD": "4539 1488 0343 6467",
    "US_SSN": "219-09-9999",
    "SECRET": "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
}
FAST = PiiConfig(mode="fast")


def make_docs(n: int = 12) -> list[dict]:
    docs = []
    for i in range(n):
        text = (
            f"Post {i}. Reach me at {PLANTED['EMAIL_ADDRESS']} or {PLANTED['PHONE_NUMBER']}; "
            f"login from {PLANTED['IP_ADDRESS']}. Card {PLANTED['CREDIT_CARD']}, "
            f"SSN {PLANTED['US_SSN']}, token {PLANTED['SECRET']}. "
            + "Release 2.4.1 notes follow. "
            * 20
        )
        docs.append({"id": f"d{i}", "text": text, "source": "web" if i % 2 else "wiki"})
    docs.append({"id": "clean", "text": "Nothing personal, version 1.2.3.", "source": "books"})
    docs.append({"id": "dense", "text": " ".join(f"u{k}@example.com" for k in range(30))})
    docs.append({"id": "empty", "text": ""})
    return docs


@pytest.fixture
def shards(tmp_path) -> Path:
    src = tmp_path / "in"
    docs = make_docs()
    with ShardWriter(src, rows_per_shard=6) as w:
        w.write_rows(docs)
    return seal(src)


def test_stage_writes_scrubbed_shards_manifest_and_side_table(shards, tmp_path):
    out = tmp_path / "out"
    manifest = run_local(pii_job(shards, out, FAST, cache_root=tmp_path / "cache"), workers=1)
    table = read_table(out)
    texts = "\n".join(table.column("text").to_pylist())
    for value in PLANTED.values():
        assert value not in texts
    assert "<|email|>" in texts and "2.4.1" in texts
    ids = set(table.column("id").to_pylist())
    assert "dense" not in ids and {"clean", "empty", "d0"} <= ids  # ids kept, dense dropped
    c = manifest["counts"]
    assert c["in"] == 15 and c["out"] == 14 and c["dropped_pii_density"] == 1
    assert manifest["entities_by_type"]["EMAIL_ADDRESS"] == 12 + 30
    assert manifest["entities_by_source"]["web"]["SECRET"] == 6
    counts = pq.read_table(out / "entity_counts").to_pylist()
    by_id = {r["id"]: r for r in counts}
    assert by_id["d0"]["US_SSN"] == 1 and by_id["dense"]["dropped"] is True
    assert by_id["clean"]["EMAIL_ADDRESS"] == 0


def test_finished_shards_are_not_redone(shards, tmp_path):
    cache = tmp_path / "cache"
    first = run_local(pii_job(shards, tmp_path / "a", FAST, cache_root=cache), workers=1)
    again = run_local(pii_job(shards, tmp_path / "b", FAST, cache_root=cache), workers=1)
    assert first["counts"]["shards_cached"] == 0
    assert again["counts"]["shards_cached"] == again["counts"]["shards"] == 3
    assert [o["sha256"] for o in first["outputs"]] == [o["sha256"] for o in again["outputs"]]


def test_sft_rows_are_scrubbed(tmp_path):
    src = tmp_path / "sft.jsonl"
    rows = [
        {"prompt": f"Email {PLANTED['EMAIL_ADDRESS']} please", "response": "Done, 2.0.1 shipped."},
        {
            "messages": [
                {"role": "user", "content": f"my ip is {PLANTED['IP_ADDRESS']}"},
                {"role": "assistant", "content": "Noted."},
            ]
        },
    ]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    stats = scrub_sft_jsonl(src, tmp_path / "out.jsonl", FAST)
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert out[0]["prompt"] == "Email <|email|> please" and out[0]["response"].endswith("shipped.")
    assert out[1]["messages"][0]["content"] == "my ip is <|ip|>"
    assert stats["counts"] == {"in": 3, "out": 2, "rejected_unreadable": 1}


def test_review_prints_only_redacted_context(shards, tmp_path):
    run_local(pii_job(shards, tmp_path / "out", FAST, cache_root=tmp_path / "cache"), workers=1)
    sample = review_contexts(tmp_path / "out", sample=20)
    assert len(sample) == 20
    for _, placeholder, context in sample:
        assert f"[{placeholder}]" in context and len(context) <= 60 * 2 + len(placeholder) + 30
        assert not any(v in context for v in PLANTED.values())


def test_flow_and_cli_leave_no_pii_in_records(prefect_harness, workspace, shards, tmp_path, caplog):
    from corpusforge.cli import app
    from corpusforge.core.audit import AuditLog

    out = tmp_path / "cli-out"
    runner = CliRunner()
    with caplog.at_level("DEBUG"):
        result = runner.invoke(
            app,
            [
                "pii",
                str(shards),
                "-o",
                str(out),
                "--mode",
                "fast",
                "--overwrite",
                "--workspace",
                str(workspace.root),
            ],
        )
        assert result.exit_code == 0, result.output
        again = runner.invoke(
            app,
            [
                "pii",
                str(shards),
                "-o",
                str(out),
                "--mode",
                "fast",
                "--overwrite",
                "--workspace",
                str(workspace.root),
            ],
        )
        review = runner.invoke(
            app, ["pii", "review", str(out), "--sample", "5", "--workspace", str(workspace.root)]
        )
    assert "14 out" in result.output and review.exit_code == 0
    manifest = read_manifest(out)  # the second run's: every shard reused from the cache
    assert again.exit_code == 0 and manifest["counts"]["out"] == 14
    assert manifest["counts"]["shards_cached"] == manifest["counts"]["shards"] == 3
    events = list(AuditLog(workspace.audit_url).events(action_prefix="pii."))
    assert {e.action for e in events} >= {"pii.shard", "pii.run"}
    run_event = [e for e in events if e.action == "pii.run"][-1]
    assert run_event.counts["type.EMAIL_ADDRESS"] == 42

    from prefect.client.orchestration import get_client

    async def artifacts() -> str:
        async with get_client() as client:
            found = await client.read_artifacts()
        return json.dumps([a.model_dump(mode="json") for a in found], default=str)

    import asyncio

    records = "\n".join(
        [
            result.output,
            again.output,
            review.output,
            caplog.text,
            (out / "manifest.json").read_text(),
            (out / "rejects.jsonl").read_text(),
            json.dumps([e.__dict__ for e in events], default=str),
            asyncio.run(artifacts()),
            (workspace.root / "audit.db").read_bytes().decode("utf-8", "replace"),
            str(pq.read_table(out / "entity_counts").to_pylist()),
        ]
    )
    assert "pii-summary" in records or "PII summary" in records
    for value in PLANTED.values():
        assert value not in records


def test_bad_mode_is_a_one_line_error(workspace, tmp_path):
    from corpusforge.cli import app

    result = CliRunner().invoke(
        app,
        [
            "pii",
            str(tmp_path),
            "-o",
            str(tmp_path / "o"),
            "--mode",
            "slow",
            "--workspace",
            str(workspace.root),
        ],
    )
    assert result.exit_code != 0
