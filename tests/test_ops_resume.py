"""Crash-resume: SIGKILL the pipeline in the middle of PII, rerun the same command.

The rerun must finish, redo only the PII shards that had not finished (the manifest and the audit
log say which were reused), and end with exactly the document ids of an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from corpusforge.core.audit import AuditLog
from corpusforge.pipeline.documents import read_table
from corpusforge.pipeline.manifest import read_manifest

STAGES = ["ingest", "dedup", "pii", "tokenize"]


def _config(tmp_path: Path, sample: Path, name: str) -> Path:
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "inputs": [str(sample / d) for d in ("web", "books", "wiki")],
                "output": str(tmp_path / name),
                "stages": STAGES,
                "task_runner": "threads",
                "pii": {"mode": "fast"},
                "tokenize": {"vocab_size": 512},
            }
        )
    )
    return cfg


def _command(cfg: Path, workspace: Path, api: str):
    env = {**os.environ, "PREFECT_API_URL": api, "CORPUSFORGE_WORKSPACE": str(workspace)}
    env.pop("PREFECT_HOME", None)
    return [sys.executable, "-m", "corpusforge.cli", "run", str(cfg)], env


def _finished_pii_shards(workspace: Path) -> list[Path]:
    cache = workspace / "cache" / "pii"
    if not cache.is_dir():
        return []
    return [d for d in cache.iterdir() if d.is_dir() and (d / "_DONE.json").exists()]


def _ids(out: Path) -> list[str]:
    return read_table(out / "pii", columns=["id"])["id"].to_pylist()


@pytest.mark.slow
def test_sigkill_during_pii_then_rerun_redoes_only_unfinished_shards(prefect_harness, tmp_path):
    from prefect.settings import PREFECT_API_URL

    from corpusforge.demo import write_sample

    api = PREFECT_API_URL.value()
    sample = tmp_path / "sample"
    write_sample(sample, seed=0)
    cfg = _config(tmp_path, sample, "crashed")
    ws = tmp_path / "ws-crashed"
    cmd, env = _command(cfg, ws, api)

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while not _finished_pii_shards(ws):
        assert proc.poll() is None, "pipeline ended before PII finished a shard"
        assert time.monotonic() < deadline, "PII never finished a shard"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_at_kill = {d.name for d in _finished_pii_shards(ws)}
    total = len(read_manifest(tmp_path / "crashed" / "dedup")["outputs"])  # PII's input
    assert 1 <= len(done_at_kill) < total, "the kill did not land in the middle of PII"
    assert not (tmp_path / "crashed" / "pii" / "_FINGERPRINT.json").exists()

    seq_before = AuditLog(f"sqlite:///{ws / 'audit.db'}").head()[0]
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "2 stages ran, 2 up to date" in rerun.stdout  # ingest + dedup skipped

    manifest = read_manifest(tmp_path / "crashed" / "pii")
    assert manifest["counts"]["shards_cached"] == len(done_at_kill)
    assert manifest["counts"]["shards"] == total
    log = AuditLog(f"sqlite:///{ws / 'audit.db'}")
    shard_events = [e for e in log.events(action_prefix="pii.shard") if e.seq > seq_before]
    assert Counter(e.details["cached"] for e in shard_events) == {
        True: len(done_at_kill),
        False: total - len(done_at_kill),
    }
    skipped = [
        e.details["stage"]
        for e in log.events(action_prefix="pipeline.stage")
        if e.seq > seq_before and e.decision == "skipped"
    ]
    assert skipped == ["ingest", "dedup"]
    assert log.verify().ok

    clean_cfg = _config(tmp_path, sample, "clean")
    cmd, env = _command(clean_cfg, tmp_path / "ws-clean", api)
    clean = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr[-3000:]

    resumed, uninterrupted = _ids(tmp_path / "crashed"), _ids(tmp_path / "clean")
    assert len(resumed) == len(set(resumed)), "duplicate documents after resume"
    assert set(resumed) == set(uninterrupted) and len(resumed) == len(uninterrupted)
