"""A real `prefect server start`, the pipeline run against it, and the flow run page in Chromium.

The screenshot goes to ci-artifacts/ui-flow-run.png (git-ignored; CI keeps it).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DATA_STAGES = ["ingest", "dedup", "pii", "tokenize"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    """`prefect server start` on a free localhost port with its own PREFECT_HOME."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_UI_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": "",
    }
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
        + ["--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"prefect server exited: {(home / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            pytest.fail("prefect server did not become healthy in 120 s")
        yield api
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def pipeline_run(prefect_server, tmp_path_factory) -> str:
    """The pipeline, then `corpusforge audit report`, against the real server; its API URL."""
    tmp_path = tmp_path_factory.mktemp("ui-pipeline")
    env = _run_pipeline(prefect_server, tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "corpusforge.cli", "audit", "report"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return prefect_server


def _run_pipeline(api: str, tmp_path: Path) -> dict[str, str]:
    from corpusforge.demo import write_sample

    sample = tmp_path / "sample"
    write_sample(sample, seed=0)
    cfg = tmp_path / "pipeline.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "name": "ui-test",
                "inputs": [str(sample / d) for d in ("web", "books", "wiki")],
                "output": str(tmp_path / "out"),
                "stages": DATA_STAGES,
                "task_runner": "threads",
                "pii": {"mode": "fast"},
                "tokenize": {"vocab_size": 512},
            }
        )
    )
    env = {**os.environ, "PREFECT_API_URL": api, "CORPUSFORGE_WORKSPACE": str(tmp_path / "ws")}
    env.pop("PREFECT_HOME", None)
    done = subprocess.run(
        [sys.executable, "-m", "corpusforge.cli", "run", str(cfg)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "4 stages ran" in done.stdout
    return env


def _flow_runs(api: str) -> list[dict]:
    return httpx.post(f"{api}/flow_runs/filter", json={"limit": 50}, timeout=10).json()


@pytest.mark.slow
def test_artifacts_have_keys_and_task_runs_short_names(pipeline_run):
    api = pipeline_run
    artifacts = httpx.post(f"{api}/artifacts/filter", json={"limit": 200}, timeout=10).json()
    keys = {a["key"]: a["type"] for a in artifacts if a.get("key")}
    # every stage step's progress is a keyed artifact (the artifacts page lists keyed ones)
    for key in ("ingest-read-progress", "dedup-signatures-progress", "pii-scrub-progress"):
        assert keys.get(key) == "progress", sorted(keys)
    link = next(a for a in artifacts if a.get("key") == "compliance-report")  # a Markdown link
    assert link["data"].startswith("[") and "file://" in link["data"] and ".html" in link["data"]
    tasks = httpx.post(f"{api}/task_runs/filter", json={"limit": 200}, timeout=10).json()
    names = [t["name"] for t in tasks]
    assert any(n.startswith("pii-scrub-") for n in names), names
    assert all("/" not in n for n in names), [n for n in names if "/" in n]


@pytest.mark.slow
def test_flow_run_page_shows_the_stage_artifacts(pipeline_run):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    api = pipeline_run
    runs = _flow_runs(api)
    flows = {f["id"]: f["name"] for f in httpx.post(f"{api}/flows/filter", json={}).json()}
    parent = next(r for r in runs if flows[r["flow_id"]] == "corpus-to-model")
    assert parent["state_type"] == "COMPLETED"
    children = {flows[r["flow_id"]]: r for r in runs if r["id"] != parent["id"]}
    assert set(DATA_STAGES) <= set(children)

    base = api.removesuffix("/api")
    shot = REPO / "ci-artifacts" / "ui-flow-run.png"
    shot.parent.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{base}/runs/flow-run/{parent['id']}", wait_until="networkidle")
            page.get_by_text("Artifacts", exact=True).first.click()
            for key in ("pipeline-summary", "pipeline-stages"):
                page.get_by_text(key, exact=True).first.wait_for(timeout=30_000)
            page.screenshot(path=str(shot), full_page=True)
            page.get_by_text("Subflow Runs", exact=True).first.click()
            for stage in DATA_STAGES:
                page.get_by_text(stage, exact=True).first.wait_for(timeout=30_000)
            # Each stage's own page shows its summary artifact.
            for stage in DATA_STAGES:
                page.goto(f"{base}/runs/flow-run/{children[stage]['id']}", wait_until="networkidle")
                page.get_by_text("Artifacts", exact=True).first.click()
                page.get_by_text(f"{stage}-summary", exact=True).first.wait_for(timeout=30_000)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
