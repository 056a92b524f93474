"""Attacks and faults at a stage's edges: bad lines among good ones, a full disk, crashed or
foreign output directories, a tampered cache, environment failures. Nothing may be lost, and
every stage's counts must add up: in = out + rejected + removed.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from _documents_helpers import seal

from corpusforge.core.errors import EnvironmentProblem, InputError
from corpusforge.pipeline.dedup import DedupConfig, dedup_job
from corpusforge.pipeline.documents import ShardWriter, read_table
from corpusforge.pipeline.ingest.config import IngestConfig
from corpusforge.pipeline.ingest.stage import ingest_job
from corpusforge.pipeline.manifest import read_manifest, read_rejects
from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.stage import pii_job
from corpusforge.pipeline.stage import run_local
from corpusforge.pipeline.tokenize import TokenizeConfig, tokenize_job

FAST = PiiConfig(mode="fast")
WORDS = "river stone meadow lantern harbor copper violet thunder orchard silver".split()


def _text(i: int) -> str:
    # distinct documents (no near duplicates): a different word order per document
    words = [WORDS[(i * 7 + k * (i + 3)) % len(WORDS)] for k in range(80)]
    return f"Document {i} begins. " + " ".join(words) + f" Reach me at user{i}@example.org."


def _jsonl_with_one_bad_line(path: Path, good: int = 10, bad_at: int = 6) -> Path:
    lines = [json.dumps({"id": f"doc-{i}", "text": _text(i), "source": "web"}) for i in range(good)]
    lines.insert(bad_at - 1, '{"id": "broken", "text": "unterminated')
    path.write_text("\n".join(lines) + "\n")
    return path


def _adds_up(manifest: dict) -> None:
    c = manifest["counts"]
    out = c.get("documents_out", c["out"])  # tokenize counts documents, not mixture copies
    assert c["in"] == out + c["rejected"] + c.get("removed", 0), c


# --- 18. one bad line among ten valid rows -------------------------------------------------


def test_pii_keeps_the_ten_valid_rows_and_quarantines_the_bad_line(tmp_path):
    src = _jsonl_with_one_bad_line(tmp_path / "docs.jsonl")
    manifest = run_local(
        pii_job(src, tmp_path / "out", FAST, cache_root=tmp_path / "cache"), workers=1
    )
    assert manifest["counts"]["in"] == 11 and manifest["counts"]["out"] == 10
    assert manifest["counts"]["rejected"] == 1
    [reject] = read_rejects(tmp_path / "out")
    assert reject["file"] == str(src) and reject["position"] == 6
    assert "invalid JSON" in reject["reason"] and "unterminated" not in reject["reason"]
    ids = read_table(tmp_path / "out")["id"].to_pylist()
    assert ids == [f"doc-{i}" for i in range(10)]
    assert "@example.org" not in "".join(read_table(tmp_path / "out")["text"].to_pylist())
    _adds_up(manifest)


def test_dedup_keeps_the_ten_valid_rows_and_quarantines_the_bad_line(tmp_path):
    src = _jsonl_with_one_bad_line(tmp_path / "docs.jsonl")
    manifest = run_local(dedup_job(src, tmp_path / "out", DedupConfig()), workers=1)
    assert manifest["counts"]["out"] == 10 and manifest["counts"]["rejected"] == 1
    assert read_rejects(tmp_path / "out")[0]["position"] == 6
    _adds_up(manifest)


def test_tokenize_keeps_the_ten_valid_rows_and_quarantines_the_bad_line(tmp_path):
    src = _jsonl_with_one_bad_line(tmp_path / "docs.jsonl")
    config = TokenizeConfig(vocab_size=512, val_fraction=0.0, workers=1, min_frequency=1)
    manifest = run_local(tokenize_job(src, tmp_path / "out", config))
    assert manifest["counts"]["documents_out"] == 10 and manifest["counts"]["rejected"] == 1
    _adds_up(manifest)


@pytest.mark.parametrize(
    "line, reason",
    [
        ("[1, 2, 3]", "not a JSON object"),
        ('{"text": "no id"}', "at least 'id' and 'text'"),
        ('{"id": {"x": 1}, "text": "t"}', "'id' must be"),
        ('{"id": "x", "text": 42}', "'text' must be a string"),
        (b"\xff\xfe not utf-8", "not UTF-8"),
    ],
)
def test_every_kind_of_bad_line_is_quarantined_with_its_reason(tmp_path, line, reason):
    src = tmp_path / "docs.jsonl"
    good = json.dumps({"id": "ok", "text": _text(1)}).encode()
    bad = line if isinstance(line, bytes) else line.encode()
    src.write_bytes(good + b"\n" + bad + b"\n" + good.replace(b'"ok"', b'"ok2"') + b"\n")
    manifest = run_local(
        pii_job(src, tmp_path / "out", FAST, cache_root=tmp_path / "cache"), workers=1
    )
    [reject] = read_rejects(tmp_path / "out")
    assert reject["position"] == 2 and reason in reject["reason"]
    assert manifest["counts"]["out"] == 2
    _adds_up(manifest)


def test_dedup_cli_on_a_bad_line_exits_0_without_a_traceback(tmp_path):
    src = _jsonl_with_one_bad_line(tmp_path / "docs.jsonl")
    proc = subprocess.run(
        [sys.executable, "-m", "corpusforge.cli", "dedup", str(src), "-o", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CORPUSFORGE_WORKSPACE": str(tmp_path / "ws")},
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    manifest = read_manifest(tmp_path / "d")
    assert manifest["counts"]["out"] == 10 and manifest["counts"]["rejected"] == 1


# --- 19. a full disk, and inputs without a complete manifest --------------------------------


def _fill_disk_after(monkeypatch, calls: int) -> None:
    """The shard writer's Nth write fails as a full disk does."""
    import corpusforge.pipeline.documents as documents

    real = documents.ShardWriter.write_table
    seen = {"n": 0}

    def write_table(self, table):
        seen["n"] += 1
        if seen["n"] > calls:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, table)

    monkeypatch.setattr(documents.ShardWriter, "write_table", write_table)


def test_disk_full_during_ingest_publishes_nothing(tmp_path, monkeypatch, fixtures_dir):
    books = sorted((fixtures_dir / "books").glob("*.txt"))
    _fill_disk_after(monkeypatch, 1)
    out = tmp_path / "docs"
    with pytest.raises((EnvironmentProblem, OSError)) as err:
        run_local(
            ingest_job(books, out, IngestConfig(rows_per_shard=1), cache_root=tmp_path / "cache"),
            workers=1,
        )
    assert "No space left" in str(err.value) or "ENOSPC" in str(err.value)
    assert not out.exists()  # no half output for the next stage to read
    assert not [p for p in tmp_path.iterdir() if ".staging" in p.name]


def test_a_shard_directory_without_manifest_is_refused(tmp_path):
    crashed = tmp_path / "crashed"
    with ShardWriter(crashed, rows_per_shard=5) as writer:
        writer.write_rows([{"id": f"d{i}", "text": _text(i)} for i in range(12)])
    with pytest.raises(InputError, match="no manifest.json.*--allow-incomplete"):
        run_local(dedup_job(crashed, tmp_path / "out"), workers=1)
    assert not (tmp_path / "out").exists()
    manifest = run_local(dedup_job(crashed, tmp_path / "out", allow_incomplete=True), workers=1)
    assert manifest["input_incomplete"] is True and manifest["counts"]["out"] == 12


def test_a_truncated_or_unlisted_shard_makes_the_directory_incomplete(tmp_path):
    docs = tmp_path / "docs"
    with ShardWriter(docs, rows_per_shard=5) as writer:
        writer.write_rows([{"id": f"d{i}", "text": _text(i)} for i in range(12)])
    seal(docs)
    shard = docs / "part-00001.parquet"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="part-00001.parquet is damaged"):
        run_local(pii_job(docs, tmp_path / "out", FAST), workers=1)
    shard.write_bytes(data)
    (docs / "part-00009.parquet").write_bytes(data)  # planted beside the listed ones
    with pytest.raises(InputError, match="part-00009.parquet is not listed"):
        run_local(pii_job(docs, tmp_path / "out", FAST), workers=1)


# --- 20. non-empty output directories ----------------------------------------------------------


def test_foreign_files_in_the_output_directory_are_refused_and_kept(tmp_path):
    src = seal(_shards(tmp_path / "in"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(InputError, match="not an earlier pii output"):
            run_local(pii_job(src, out, FAST, overwrite=overwrite), workers=1)
    assert (out / "thesis.tex").read_text() == "mine"


def test_an_earlier_output_is_replaced_only_with_overwrite(tmp_path):
    src = seal(_shards(tmp_path / "in"))
    out = tmp_path / "out"
    first = run_local(pii_job(src, out, FAST), workers=1)
    with pytest.raises(InputError, match="--overwrite"):
        run_local(pii_job(src, out, FAST), workers=1)
    again = run_local(pii_job(src, out, FAST, overwrite=True), workers=1)
    assert [o["sha256"] for o in again["outputs"]] == [o["sha256"] for o in first["outputs"]]
    assert not [p for p in tmp_path.iterdir() if ".staging" in p.name or ".replaced" in p.name]


def _shards(directory: Path) -> Path:
    with ShardWriter(directory, rows_per_shard=4) as writer:
        writer.write_rows([{"id": f"d{i}", "text": _text(i), "source": "web"} for i in range(10)])
    return directory


# --- 21. ingest counts ----------------------------------------------------------------------------


def test_ingest_counts_add_up_with_bad_and_too_large_records(tmp_path, fixtures_dir):
    malformed = sorted((fixtures_dir / "web" / "malformed").iterdir())
    books = sorted((fixtures_dir / "books").glob("*.txt"))
    config = IngestConfig(max_doc_chars=200_000)  # the long book is rejected as too large
    manifest = run_local(
        ingest_job([*malformed, *books], tmp_path / "docs", config, cache_root=tmp_path / "c"),
        workers=1,
    )
    c = manifest["counts"]
    assert c["rejected"] >= 2  # damaged WARC records and the too-large book
    assert any("too large" in r["reason"] for r in read_rejects(tmp_path / "docs"))
    _adds_up(manifest)
    per_file = {Path(i["path"]).name: i for i in manifest["inputs"]}
    assert sum(i["documents"] for i in per_file.values()) == c["out"]


# --- 22. an environment error is not bad input -------------------------------------------------


def test_trafilatura_extractor_works_on_a_real_crawl(tmp_path, fixtures_dir):
    warc = fixtures_dir / "web" / "resiliparse-cc-main-2020-34-warcfile.warc.gz"
    config = IngestConfig(web_extractor="trafilatura", min_chars=50)
    manifest = run_local(
        ingest_job([warc], tmp_path / "docs", config, cache_root=tmp_path / "c"), workers=1
    )
    assert manifest["counts"]["out"] >= 5
    assert not any("ImportError" in r["reason"] for r in read_rejects(tmp_path / "docs"))


def test_a_missing_module_stops_the_stage_with_one_line(tmp_path, fixtures_dir, monkeypatch):
    warc = fixtures_dir / "web" / "resiliparse-cc-main-2020-34-warcfile.warc.gz"
    monkeypatch.setitem(sys.modules, "trafilatura", None)  # `import trafilatura` now fails
    config = IngestConfig(web_extractor="trafilatura")
    with pytest.raises(EnvironmentProblem, match="missing Python module 'trafilatura'") as err:
        run_local(
            ingest_job([warc], tmp_path / "docs", config, cache_root=tmp_path / "c"), workers=1
        )
    assert "\n" not in str(err.value)
    assert not (tmp_path / "docs").exists()


def test_a_full_disk_while_scrubbing_is_not_blamed_on_the_rows(tmp_path, monkeypatch):
    import corpusforge.pipeline.pii.stage as stage

    src = seal(_shards(tmp_path / "in"))

    def full_disk(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(stage.Scrubber, "scrub", full_disk)
    with pytest.raises(EnvironmentProblem, match="ENOSPC"):
        run_local(pii_job(src, tmp_path / "out", FAST, cache_root=tmp_path / "cache"), workers=1)
    assert not (tmp_path / "out").exists()


# --- the cache is not trusted (issue 15) ------------------------------------------------------


def test_raw_text_written_into_a_cached_unit_is_never_published(tmp_path):
    src = seal(_shards(tmp_path / "in"))
    cache = tmp_path / "cache"
    first_out = tmp_path / "first"
    first = run_local(pii_job(src, first_out, FAST, cache_root=cache), workers=1)
    published = {p.name: _sha(p) for p in first_out.rglob("*.parquet")}
    assert "@example.org" not in "".join(read_table(first_out)["text"].to_pylist())
    # the attack: replace a cached scrubbed shard with its raw input
    units = [d for d in sorted(cache.iterdir()) if (d / "_DONE.json").exists()]
    unit = next(d for d in units if (d / "part-00000.parquet").exists())
    raw = next(iter(sorted(src.glob("part-*.parquet"))))
    (unit / "part-00000.parquet").write_bytes(raw.read_bytes())

    again = run_local(pii_job(src, tmp_path / "second", FAST, cache_root=cache), workers=1)
    texts = "".join(read_table(tmp_path / "second")["text"].to_pylist())
    assert "@example.org" not in texts
    assert again["counts"]["cache_recomputed"] == 1
    assert [o["sha256"] for o in again["outputs"]] == [o["sha256"] for o in first["outputs"]]
    # what was published before is untouched: outputs are copies, not links into the cache
    assert {p.name: _sha(p) for p in first_out.rglob("*.parquet")} == published


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- every stage's counts add up, on clean input too ------------------------------------------


def test_counts_add_up_for_every_stage_on_clean_input(tmp_path, fixtures_dir):
    docs = tmp_path / "docs"
    ingested = run_local(
        ingest_job(sorted((fixtures_dir / "books").glob("*.txt")), docs, cache_root=tmp_path / "c"),
        workers=1,
    )
    deduped = run_local(dedup_job(docs, tmp_path / "dedup"), workers=1)
    scrubbed = run_local(pii_job(tmp_path / "dedup", tmp_path / "pii", FAST), workers=1)
    tokens = run_local(
        tokenize_job(tmp_path / "pii", tmp_path / "tok", TokenizeConfig(vocab_size=512, workers=1))
    )
    for manifest in (ingested, deduped, scrubbed, tokens):
        _adds_up(manifest)
    assert pq.read_metadata(next((tmp_path / "pii").glob("part-*.parquet"))).num_rows > 0


# --- 23. kill -9 leaves nothing running ------------------------------------------------------


@pytest.mark.slow
def test_kill_9_of_a_command_takes_its_workers_and_api_server_with_it(tmp_path):
    import signal
    import time

    import psutil

    src = tmp_path / "docs.jsonl"
    with src.open("w") as fh:
        for i in range(4000):
            fh.write(json.dumps({"id": f"d{i}", "text": _text(i) * 4}) + "\n")
    env = {**os.environ, "CORPUSFORGE_WORKSPACE": str(tmp_path / "ws")}
    for name in ("PREFECT_API_URL", "PREFECT_HOME"):
        env.pop(name, None)  # the command starts the workspace's API server
    cmd = [sys.executable, "-m", "corpusforge.cli", "pii", str(src), "-o", str(tmp_path / "o")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 240
    children: list[psutil.Process] = []
    while len(children) < 3:  # the API server and the worker pool are running
        assert proc.poll() is None, "the command ended before its workers started"
        assert time.monotonic() < deadline, "the workers never started"
        time.sleep(0.2)
        children = parent.children(recursive=True)
    time.sleep(1.0)
    children = parent.children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The workspace's Prefect server is shared by the workspace's commands and outlives each
    # of them by design (it stops when idle: corpusforge.flows.server); everything else goes.
    supervisors = [p for p in children if "corpusforge.flows.server" in " ".join(p.cmdline())]
    assert len(supervisors) == 1, "the command started no workspace server"
    shared = {supervisors[0].pid} | {p.pid for p in supervisors[0].children(recursive=True)}
    children = [p for p in children if p.pid not in shared]
    gone, alive = psutil.wait_procs(children, timeout=20)
    leftover = [(p.pid, p.name()) for p in alive if p.is_running() and p.status() != "zombie"]
    for p in alive:
        p.kill()
    supervisors[0].terminate()  # stops its server
    psutil.wait_procs(supervisors, timeout=30)
    assert not leftover, f"still running after the command was killed: {leftover}"


# --- 24. one line, not a traceback; 19. an override is audited -----------------------------


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CORPUSFORGE_WORKSPACE": str(tmp_path / "ws")}
    return subprocess.run(
        [sys.executable, "-m", "corpusforge.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.mark.slow
def test_a_failing_stage_ends_in_one_line_naming_the_log(tmp_path):
    blank = tmp_path / "blank.jsonl"
    blank.write_text("".join(json.dumps({"id": f"b{i}", "text": "   "}) + "\n" for i in range(5)))
    proc = _cli(tmp_path, "tokenize", str(blank), "-o", str(tmp_path / "tok"))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    log = tmp_path / "ws" / "logs" / "corpusforge.log"
    assert last.startswith("error: ") and "no documents with text" in last and str(log) in last
    assert "Traceback" in log.read_text()  # the details are kept, in the workspace
    assert not (tmp_path / "tok").exists()


@pytest.mark.slow
def test_reading_an_incomplete_directory_is_recorded_in_the_audit_log(tmp_path):
    from corpusforge.core.audit import AuditLog

    crashed = tmp_path / "crashed"
    with ShardWriter(crashed, rows_per_shard=5) as writer:
        writer.write_rows([{"id": f"d{i}", "text": _text(i)} for i in range(8)])
    refused = _cli(tmp_path, "dedup", str(crashed), "-o", str(tmp_path / "d"))
    assert refused.returncode != 0 and "--allow-incomplete" in refused.stderr.splitlines()[-1]
    allowed = _cli(tmp_path, "dedup", str(crashed), "-o", str(tmp_path / "d"), "--allow-incomplete")
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    log = AuditLog(f"sqlite:///{tmp_path / 'ws' / 'audit.db'}")
    [run] = [e for e in log.events(action_prefix="dedup.run")]
    assert run.details["input_incomplete"] is True


def _tamper_every_unit(cache: Path) -> int:
    """Append a byte to the first data file of every completed cache unit under `cache`."""
    hit = 0
    for done in cache.rglob("_DONE.json"):
        files = sorted(f for f in done.parent.iterdir() if f.is_file() and f.name != done.name)
        if files:
            with files[0].open("ab") as fh:
                fh.write(b"\0")
            hit += 1
    return hit


def test_every_stage_recomputes_a_tampered_cache_unit(tmp_path, fixtures_dir):
    """The cache-tamper attack against ingest, dedup and tokenize too: each unit whose files
    changed is recomputed, and the published output is what a clean run publishes."""
    books = sorted((fixtures_dir / "books").glob("*.txt"))
    runs = {
        "ingest": lambda out, c: run_local(
            ingest_job(books, out, cache_root=c, overwrite=True), workers=1
        ),
        "dedup": lambda out, c: run_local(
            dedup_job(tmp_path / "ingest-out", out, None, c, overwrite=True), workers=1
        ),
        "tokenize": lambda out, c: run_local(
            tokenize_job(
                tmp_path / "ingest-out",
                out,
                TokenizeConfig(vocab_size=512, workers=1),
                cache_root=c,
                overwrite=True,
            )
        ),
    }
    for stage, run in runs.items():
        out, cache = tmp_path / f"{stage}-out", tmp_path / f"{stage}-cache"
        first = run(out, cache)
        assert _tamper_every_unit(cache) >= 1, stage
        again = run(out, cache)
        assert again["counts"].get("cache_recomputed", 0) >= 1, stage
        assert [o["sha256"] for o in again["outputs"]] == [o["sha256"] for o in first["outputs"]]
