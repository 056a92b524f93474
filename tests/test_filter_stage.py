"""The filter stage: counts (`in = out + rejected + removed`, per filter and source), the side
table, language in meta, per-source policy, bad input, the flow and CLI, review, the report."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from _documents_helpers import seal
from typer.testing import CliRunner

from corpusforge.pipeline.documents import ShardWriter, read_table
from corpusforge.pipeline.filter import DocumentFilter, FilterConfig
from corpusforge.pipeline.filter.stage import filter_job, read_removals, review_removed
from corpusforge.pipeline.manifest import read_manifest
from corpusforge.pipeline.stage import run_local

PROSE = (
    "The river ran past the old mill, and the children followed it down to the sea. "
    "They had been told that the water was cold, but they went in with their shoes on. "
    "Their mother laughed when they came home wet, and she made them sit by the fire. "
    "Later that evening the wind rose and the rain began to fall on the roof of the house. "
    "Nobody slept much, but in the morning the sky was clear and the fields were bright.\n"
)
PROSE2 = (
    "A week later the family drove to the mountains, where the snow had not yet melted. "
    "Their father carried the heavy bags while the children ran ahead on the narrow path. "
    "At the top there was a small hut with a stove, two beds and a shelf of worn books. "
    "They stayed for three days and read every book, even the one about birds of the north. "
    "When they came back down, the river near the mill had risen with the spring thaw.\n"
)
GERMAN = (
    "Der Fluss floss an der alten Mühle vorbei, und die Kinder folgten ihm bis zum Meer. "
    "Man hatte ihnen gesagt, dass das Wasser kalt sei, aber sie gingen mit Schuhen hinein. "
    "Ihre Mutter lachte, als sie nass nach Hause kamen, und setzte sie ans Feuer. "
    "Am Abend kam Wind auf, und der Regen fiel auf das Dach des Hauses.\n"
)


def filter_documents(input_path, out_dir, config=None, cache_root=None) -> dict:
    """The stage in this process (the local driver with one worker)."""
    return run_local(filter_job(input_path, out_dir, config, cache_root), workers=1)


def make_docs() -> list[dict]:
    rng = random.Random(0)
    junk = bytes(rng.randrange(256) for _ in range(3000)).decode("latin-1")
    return [
        {"id": "good-web", "text": PROSE, "source": "web", "meta": '{"title": "t"}'},
        {"id": "good-web-menu", "text": "Home\nAbout\n" + PROSE2, "source": "web"},
        {"id": "german", "text": GERMAN, "source": "web"},
        {"id": "short", "text": "Buy now. Click here.", "source": "web"},
        {
            "id": "lorem",
            "text": PROSE + "Lorem ipsum dolor sit amet, consectetur.\n" + PROSE2,
            "source": "web",
        },
        {"id": "repeated", "text": "Click here to subscribe today.\n" * 40, "source": "web"},
        {"id": "empty", "text": "", "source": "web"},
        {"id": "blank", "text": " \n\t ", "source": "wiki"},
        {"id": "junk", "text": junk, "source": "web"},
        {"id": "mixed", "text": "Hello 你好 Привет مرحبا " * 30, "source": "web"},
        # wiki and books skip the line rules: a short stub and a hard-wrapped page are kept
        {
            "id": "wiki-stub",
            "text": "Aldbury is a village in Hertfordshire, England, near the Chiltern Hills.",
            "source": "wiki",
        },
        {
            "id": "book",
            "text": (PROSE + PROSE2).replace(". ", ".\n"),
            "source": "books",
            "meta": '{"language": "English"}',
        },
    ]


@pytest.fixture
def shards(tmp_path) -> Path:
    src = tmp_path / "in"
    with ShardWriter(src, rows_per_shard=5) as w:
        w.write_rows(make_docs())
    return seal(src)


def test_counts_reasons_side_table_and_language_meta(shards, tmp_path):
    out = tmp_path / "out"
    manifest = filter_documents(shards, out, cache_root=tmp_path / "cache")
    c = manifest["counts"]
    assert c["in"] == 12 and c["in"] == c["out"] + c["rejected"] + c["removed"]
    removed = {r["id"]: r for r in read_removals(out).to_pylist()}
    assert removed["german"]["filter"] == "language" and removed["german"]["detail"] == "de"
    assert removed["short"]["filter"] in ("gopher_repetition", "gopher_quality", "language")
    assert (removed["lorem"]["filter"], removed["lorem"]["rule"]) == ("c4_quality", "lorem_ipsum")
    assert removed["repeated"]["filter"] == "gopher_repetition"
    assert removed["empty"]["rule"] == removed["blank"]["rule"] == "empty_text"
    assert removed["junk"]["filter"] == "language"
    assert "mixed" in removed
    kept = {r["id"]: r for r in read_table(out).to_pylist()}
    assert set(kept) == {"good-web", "good-web-menu", "wiki-stub", "book"}
    assert c["removed"] == len(removed) == 8
    # per filter: flat counts, and per rule and source in the manifest
    assert sum(v for k, v in c.items() if k.startswith("removed_")) == c["removed"]
    assert sum(manifest["removed_by_rule"].values()) == c["removed"]
    web = manifest["by_source"]["web"]
    assert web["in"] == 9 and web["out"] == 2 and web["removed"] == 7
    assert manifest["languages"]["en"]["out"] == 4
    assert manifest["languages"]["de"] == {"in": 1}
    # C4 line removal edited the menu page; the language is in meta with its confidence
    assert kept["good-web-menu"]["text"].startswith("A week later")
    meta = json.loads(kept["good-web"]["meta"])
    assert meta["title"] == "t" and meta["language"] == "en" and meta["language_score"] > 0.9
    book = json.loads(kept["book"]["meta"])
    assert book["language"] == "en" and book["language_declared"] == "English"
    assert manifest["c4_lines_removed"]["no_terminal_punct"] >= 2
    assert read_manifest(out)["counts"] == c


def test_finished_shards_are_reused(shards, tmp_path):
    filter_documents(shards, tmp_path / "a", cache_root=tmp_path / "cache")
    again = filter_documents(shards, tmp_path / "b", cache_root=tmp_path / "cache")
    assert again["counts"]["shards_cached"] == again["counts"]["shards"] == 3


def test_policy_and_languages_are_configurable(shards, tmp_path):
    config = FilterConfig(
        language={"keep_languages": ["en", "de"]},
        policy={"web": ["language"], "wiki": [], "books": []},
    )
    manifest = filter_documents(shards, tmp_path / "out", config, cache_root=tmp_path / "c")
    kept = {r["id"] for r in read_table(tmp_path / "out").to_pylist()}
    assert {"german", "lorem", "repeated"} <= kept
    assert manifest["policy"]["wiki"] == []


def test_review_shows_the_beginning_of_removed_documents(shards, tmp_path):
    out = tmp_path / "out"
    filter_documents(shards, out, cache_root=tmp_path / "cache")
    rows = review_removed(out, sample=20, filter_name="c4_quality", chars=40)
    assert [r["id"] for r in rows] == ["lorem"]
    assert rows[0]["text"] == PROSE[:40]
    not_kept = review_removed(out, filter_name="language.not_kept")
    assert "german" in {r["id"] for r in not_kept} and all(r["detail"] != "en" for r in not_kept)


def test_bad_input_is_counted_and_nothing_crashes(tmp_path):
    huge = ("lorem " * 2_000_000)[:10_000_000]  # a 10 MB single-line document
    docs = [
        {"id": "huge", "text": huge, "source": "web"},
        {"id": "huge-book", "text": ("word " * 2_000_000), "source": "books"},
        {"id": "nul", "text": "\x00\x01\x02" * 1000, "source": "web"},
        {"id": "surrogates", "text": "caf\udce9 " * 200, "source": "web"},
        {"id": "rtl-cjk", "text": "שלום עולם 世界 " * 100, "source": "wiki"},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(d) for d in docs) + "\nnot json\n", encoding="utf-8")
    t0 = time.perf_counter()
    manifest = filter_documents(src, tmp_path / "out", cache_root=tmp_path / "cache")
    assert time.perf_counter() - t0 < 60
    c = manifest["counts"]
    assert (
        c["in"] == 6 and c["rejected"] == 2 and c["in"] == c["out"] + c["rejected"] + c["removed"]
    )
    removed = {r["id"]: r for r in read_removals(tmp_path / "out").to_pylist()}
    assert set(removed) == {"huge", "huge-book", "nul", "rtl-cjk"}  # surrogates: quarantined


def test_one_document_filter_and_policy():
    f = DocumentFilter()
    assert f.apply(PROSE, "web").kept
    assert f.plan("books") == ("language", "gopher_repetition")
    assert f.plan("something-new") == tuple(FilterConfig().default_policy)
    with pytest.raises(ValueError):
        FilterConfig(policy={"web": ["language", "language"]})
    with pytest.raises(ValueError):
        FilterConfig(policy={"web": ["no_such_filter"]})


@pytest.mark.slow
def test_flow_cli_audit_artifacts_and_report(prefect_harness, workspace, shards, tmp_path):
    from corpusforge.cli import app
    from corpusforge.core.audit import AuditLog
    from corpusforge.report import build_sections

    out = tmp_path / "cli-out"
    runner = CliRunner()
    args = ["filter", str(shards), "-o", str(out), "--workspace", str(workspace.root)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "12 documents in, 4 out, 8 removed, 0 rejected" in result.output
    review = runner.invoke(
        app,
        ["filter", "review", str(out), "--sample", "20", "--filter", "language"]
        + ["--workspace", str(workspace.root)],
    )
    assert review.exit_code == 0 and "language.not_kept" in review.output
    assert "Der Fluss" in review.output
    log = AuditLog(workspace.audit_url)
    events = list(log.events(action_prefix="filter."))
    run_event = [e for e in events if e.action == "filter.run"][-1]
    assert run_event.counts["removed"] == 8 and run_event.counts["rule.language.not_kept"] == 3
    assert "Der Fluss" not in json.dumps([e.__dict__ for e in events], default=str)
    _, tables = build_sections(log)
    reasons = {t[0]: t[2] for t in tables}[
        "Documents removed by the quality and language filter, per reason"
    ]
    assert sum(r["documents removed"] for r in reasons) == 8
    lines = {t[0]: t[2] for t in tables}[
        "Lines removed from kept documents by the filter's line rules"
    ]
    assert {"filter": "c4_quality", "line rule": "no_terminal_punct"}.items() <= lines[0].items()
    assert run_event.counts["lines.c4_quality.no_terminal_punct"] >= 2

    from prefect.client.orchestration import get_client

    async def artifact_keys() -> set[str]:
        async with get_client() as client:
            return {a.key for a in await client.read_artifacts()}

    import asyncio

    assert {"filter-reasons", "filter-summary"} <= asyncio.run(artifact_keys())
    bad = runner.invoke(
        app, ["filter", str(shards), "-o", str(tmp_path / "x"), "--min-confidence", "2"]
    )
    assert bad.exit_code != 0 and len(bad.output.strip().splitlines()) == 1


def test_pipeline_config_places_filter_between_ingest_and_dedup(tmp_path):
    from corpusforge.core.errors import ConfigError
    from corpusforge.flows.pipeline_config import parse_config
    from corpusforge.flows.pipeline_steps import StepContext, available_stages

    assert available_stages()[:3] == ["ingest", "filter", "dedup"]
    base = {"inputs": [str(tmp_path)], "output": str(tmp_path / "o")}
    data = ["ingest", "filter", "dedup", "pii", "tokenize"]
    config = parse_config(
        {**base, "stages": data, "filter": {"language": {"keep_languages": ["en", "fr"]}}}
    )
    assert config.filter.language.keep_languages == ["en", "fr"]
    ctx = StepContext(config=config, root=tmp_path)
    assert ctx.previous("dedup") == "filter" and ctx.previous("filter") == "ingest"
    # a config that leaves the filter out feeds ingest's output to dedup, as before
    without = parse_config({**base, "stages": ["ingest", "dedup"]})
    assert StepContext(config=without, root=tmp_path).previous("dedup") == "ingest"
    with pytest.raises(ConfigError, match="filter"):
        parse_config({**base, "stages": data, "filter": {"nope": 1}})


def test_real_warc_fixture_decisions(fixtures_dir, tmp_path):
    """On the real WARC fixtures: English prose pages are kept, other languages removed."""
    from corpusforge.pipeline.ingest.stage import ingest_job

    warcs = sorted((fixtures_dir / "web").glob("*.warc.gz"))
    if not warcs:
        pytest.skip("no WARC fixtures")
    docs = tmp_path / "docs"
    run_local(ingest_job([str(w) for w in warcs], docs, cache_root=tmp_path / "icache"), workers=1)
    manifest = filter_documents(docs, tmp_path / "out", cache_root=tmp_path / "cache")
    c = manifest["counts"]
    assert c["in"] == c["out"] + c["rejected"] + c["removed"] and c["out"] >= c["in"] // 3
    removed = read_removals(tmp_path / "out").to_pylist()
    assert all(r["detail"] != "en" for r in removed if r["filter"] == "language")
    shards = (tmp_path / "out").glob("part-*.parquet")
    assert sum(pq.read_metadata(s).num_rows for s in shards) == c["out"]
