"""The workspace's background Prefect server: one server when commands start at once, kept while
a command uses it, stopped when idle, reused by stage commands whose runs the API then shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corpusforge.core.workspace import Workspace
from corpusforge.flows import server

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "corpusforge.cli"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("server") / "ws"
    ws = Workspace.resolve(root)
    ws.prefect_home.mkdir(parents=True)
    yield ws
    server.stop(ws)


def _env(ws: Workspace, idle_s: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", server.MODE_ENV)}
    env.update(
        CORPUSFORGE_WORKSPACE=str(ws.root),
        PREFECT_HOME=str(ws.prefect_home),
        CORPUSFORGE_SERVER_IDLE_S=str(idle_s),
    )
    return env


def _python(ws: Workspace, idle_s: float, code: str) -> subprocess.Popen:
    prog = (
        "from corpusforge.core.workspace import Workspace\n"
        "from corpusforge.flows import server\n"
        f"ws = Workspace.resolve({str(ws.root)!r})\n" + code
    )
    return subprocess.Popen(
        [sys.executable, "-c", prog],
        env=_env(ws, idle_s),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_commands_starting_at_once_share_one_server_until_idle(ws):
    racers = [_python(ws, 2, "print(server.ensure(ws))") for _ in range(3)]
    outs = [p.communicate(timeout=240) for p in racers]
    assert [p.returncode for p in racers] == [0, 0, 0], [err[-2000:] for _, err in outs]
    urls = {out.strip() for out, _ in outs}
    assert len(urls) == 1, urls
    state = server.status(ws)
    assert state is not None and state["api_url"] in urls
    log = server.log_file(ws).read_text()
    assert log.count("starting prefect server") == 1, log[-2000:]

    # A command that holds the server keeps it past the idle timeout...
    holder = _python(ws, 2, "server.ensure(ws); import time; time.sleep(6)")
    assert _wait(lambda: holder.poll() is not None, 60)
    assert holder.returncode == 0, holder.stderr.read()[-2000:]
    # (the holder ran for 6 s, three idle timeouts, and the server is the same one)
    assert server.status(ws) is not None
    assert server.status(ws)["pid"] == state["pid"]
    # ...and once nobody uses it, it stops and its record goes.
    assert _wait(lambda: server.status(ws) is None, 30), server.log_file(ws).read_text()[-2000:]
    assert _wait(lambda: not server._alive(state["pid"]), 30)
    assert not server.healthy(state["api_url"], timeout=1)
    assert "idle for 2 s, stopping" in server.log_file(ws).read_text()


def test_stage_commands_reuse_the_server_and_their_runs_are_in_its_api(ws, tmp_path):
    data = tmp_path / "in.jsonl"
    texts = [
        "the river ran past the mill and the miller counted sacks of grain until dusk",
        "a small boat drifted across the harbour while gulls argued over the nets",
        "snow covered the mountain road so the travellers waited at the inn for days",
    ]
    data.write_text(
        "".join(json.dumps({"id": f"d{i}", "text": texts[i % 3]}) + "\n" for i in range(6))
    )
    env = _env(ws, 0)
    started = subprocess.run(
        [*CLI, "server", "start", "--idle-timeout", "0"], env=env, capture_output=True, text=True
    )
    assert started.returncode == 0, started.stderr[-2000:]
    assert "started: UI http://127.0.0.1:" in started.stdout
    state = server.status(ws)
    assert state is not None and state["idle_timeout_s"] == 0
    for n in range(2):
        done = subprocess.run(
            [*CLI, "dedup", str(data), "-o", str(tmp_path / f"out{n}")],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "kept 3 of 6 documents" in done.stdout
        assert "Starting temporary server" not in done.stderr
    assert server.status(ws)["pid"] == state["pid"]  # the same server served both

    import httpx

    runs = httpx.post(
        state["api_url"] + "/flow_runs/filter",
        json={"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}},
        timeout=30,
    ).json()
    flows = httpx.post(state["api_url"] + "/flows/filter", json={}, timeout=30).json()
    dedup_ids = {f["id"] for f in flows if f["name"] == "dedup"}
    assert sum(r["flow_id"] in dedup_ids for r in runs) == 2

    status = subprocess.run([*CLI, "server", "status"], env=env, capture_output=True, text=True)
    assert status.returncode == 0 and state["ui_url"] in status.stdout
    stopped = subprocess.run([*CLI, "server", "stop"], env=env, capture_output=True, text=True)
    assert stopped.returncode == 0 and f"stopped (pid {state['pid']})" in stopped.stdout
    assert server.status(ws) is None and not server._alive(state["pid"])
    status = subprocess.run([*CLI, "server", "status"], env=env, capture_output=True, text=True)
    assert status.returncode == 1 and "not running" in status.stdout
