"""The workspace's own Prefect API server: started once in the background, reused, stopped idle.

Without `PREFECT_API_URL`, Prefect starts a temporary API server inside every command that runs
a flow and stops it at the end: seconds of CPU per command (more on a fresh Prefect home, where
it creates the database), often more than the command's work, and no UI to look at afterwards.
Instead the first command of a workspace starts `prefect server start` on a free localhost
port with the workspace's Prefect home, in the background, and later commands reuse it. Its
runs are in the same database as before, and its UI shows them while it runs.

Files in `<workspace>/server/`:

- `server.json`: the running server (supervisor pid, port, API and UI URLs, idle timeout),
  written by the supervisor once the API answers and removed when it stops;
- `start.lock`: held (exclusive) by whoever checks or starts the server, so two commands that
  start at once get one server;
- `clients.lock`: held shared by every command that uses the server, for its whole life; the
  server is idle when nobody holds it (a killed command's lock goes with it);
- `server.log`: the server's output.

The server runs under a small supervisor process (`python -m corpusforge.flows.server
supervise ...`, no Prefect import) in its own session, so it outlives the command that started
it. The supervisor stops the server when no command has used it for the idle timeout
(`CORPUSFORGE_SERVER_IDLE_S`, default 900 s; 0 keeps it until `corpusforge server stop`) and
removes `server.json` while it holds `clients.lock` exclusively, so a command never finds a
server that is about to go away.

`CORPUSFORGE_PREFECT_SERVER=temporary` restores the per-command temporary server.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from corpusforge.core.errors import CorpusforgeError
from corpusforge.core.processes import die_with_parent_signal
from corpusforge.core.workspace import Workspace

MODE_ENV = "CORPUSFORGE_PREFECT_SERVER"
IDLE_ENV = "CORPUSFORGE_SERVER_IDLE_S"
DEFAULT_IDLE_S = 900
STATE_NAME = "server.json"
LOG_NAME = "server.log"
_POLL_S = 0.2
_IDLE_CHECK_S = 1.0

# This process's shared hold on clients.lock (kept open for the life of the process).
_held: dict[Path, int] = {}


class ServerError(CorpusforgeError):
    """The workspace's Prefect server could not be started or reached."""


def enabled() -> bool:
    """True unless the per-command temporary server was asked for."""
    return os.environ.get(MODE_ENV, "workspace").strip().lower() != "temporary"


def server_dir(ws: Workspace) -> Path:
    return ws.root / "server"


def log_file(ws: Workspace) -> Path:
    return server_dir(ws) / LOG_NAME


def idle_timeout_default() -> float:
    raw = os.environ.get(IDLE_ENV)
    if not raw:
        return DEFAULT_IDLE_S
    try:
        value = float(raw)
    except ValueError:
        raise ServerError(f"{IDLE_ENV}={raw!r}: expected seconds (0: never stop)") from None
    return max(value, 0.0)


def startup_timeout() -> float:
    return float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS") or 180)


# --------------------------------------------------------------------------- state and checks
def status(ws: Workspace) -> dict[str, Any] | None:
    """The running server's record, or None (a record whose supervisor is gone is stale)."""
    path = server_dir(ws) / STATE_NAME
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not _alive(state.get("pid")):
        return None
    return state


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    """The API answers its health check (a plain HTTP request: no Prefect import)."""
    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/health", timeout=timeout) as r:
            return r.status == 200
    except (OSError, ValueError):
        return False


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)
        yield fd
    finally:
        os.close(fd)  # releases the lock


def hold(ws: Workspace) -> None:
    """Mark this process as a user of the server until it exits (blocks while a supervisor
    is stopping an idle server, so this process then starts a new one)."""
    path = server_dir(ws) / "clients.lock"
    if path in _held:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _held[path] = fd


# ------------------------------------------------------------------------- start, use, stop
def ensure(ws: Workspace, idle_timeout: float | None = None) -> str:
    """The API URL of the workspace's server, started now if none runs. This process holds
    it (it is not stopped as idle) until it exits."""
    hold(ws)
    directory = server_dir(ws)
    with _flock(directory / "start.lock", fcntl.LOCK_EX):
        state = status(ws)
        if state is not None:
            if healthy(state["api_url"]):
                return state["api_url"]
            _stop_pid(state["pid"])  # running but not answering: replace it
        return _start(ws, idle_timeout_default() if idle_timeout is None else idle_timeout)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(ws: Workspace, idle_timeout: float) -> str:
    directory = server_dir(ws)
    (directory / STATE_NAME).unlink(missing_ok=True)
    with open(log_file(ws), "ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "corpusforge.flows.server",
                "supervise",
                str(ws.root),
                str(_free_port()),
                str(idle_timeout),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command, not killed with its group
            env={**os.environ, "PREFECT_HOME": str(ws.prefect_home)},
        )
    deadline = time.monotonic() + startup_timeout() + 10
    while time.monotonic() < deadline:
        state = status(ws)
        if state is not None and state.get("pid") == proc.pid:
            return state["api_url"]
        if proc.poll() is not None:
            raise ServerError(f"the workspace's Prefect server did not start (see {log_file(ws)})")
        time.sleep(_POLL_S)
    _stop_pid(proc.pid)
    raise ServerError(f"the workspace's Prefect server did not answer in time (see {log_file(ws)})")


def stop(ws: Workspace, timeout: float = 30.0) -> dict[str, Any] | None:
    """Stop the workspace's server; the record of the one stopped, or None if none ran."""
    with _flock(server_dir(ws) / "start.lock", fcntl.LOCK_EX):
        state = status(ws)
        if state is None:
            return None
        _stop_pid(state["pid"], timeout)
        (server_dir(ws) / STATE_NAME).unlink(missing_ok=True)
        return state


def _stop_pid(pid: int, timeout: float = 30.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child: reap it
                return
        time.sleep(_POLL_S)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------------------ supervisor
def supervise(root: str, port: int, idle_timeout: float) -> int:
    """Run `prefect server start` until stopped (SIGTERM) or idle; keep `server.json`."""
    ws = Workspace(Path(root))
    directory = server_dir(ws)
    state_path = directory / STATE_NAME
    stopping = False

    def on_signal(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    env = {
        **os.environ,
        "PREFECT_HOME": str(ws.prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_LOGGING_LEVEL": os.environ.get("PREFECT_SERVER_LOGGING_LEVEL", "WARNING"),
    }
    env.pop("PREFECT_API_URL", None)
    api_url = f"http://127.0.0.1:{port}/api"
    print(f"{_now()} supervisor {os.getpid()}: starting prefect server on {api_url}", flush=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
        + ["--port", str(port)],
        stdin=subprocess.DEVNULL,
        env=env,
        preexec_fn=die_with_parent_signal,  # noqa: PLW1509 - the supervisor is single-threaded
    )
    try:
        while not healthy(api_url, timeout=1.0):
            if stopping or server.poll() is not None:
                return 1
            time.sleep(_POLL_S)
        state = {
            "pid": os.getpid(),
            "server_pid": server.pid,
            "port": port,
            "api_url": api_url,
            "ui_url": f"http://127.0.0.1:{port}",
            "idle_timeout_s": idle_timeout,
            "started_at": _now(),
            "log": str(log_file(ws)),
        }
        tmp = state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(state_path)
        print(f"{_now()} supervisor: server ready", flush=True)
        idle_since: float | None = None
        while not stopping and server.poll() is None:
            time.sleep(_IDLE_CHECK_S)
            if idle_timeout <= 0:
                continue
            idle_since = _check_idle(directory, state_path, idle_since, idle_timeout)
            if idle_since is None or idle_since > 0:
                continue
            print(f"{_now()} supervisor: idle for {idle_timeout:g} s, stopping", flush=True)
            break
        return 0
    finally:
        _remove_own_state(state_path)
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        print(f"{_now()} supervisor: server stopped", flush=True)


def _check_idle(
    directory: Path, state_path: Path, idle_since: float | None, idle_timeout: float
) -> float | None:
    """None while a command holds the server; the time it became idle; 0 once the server has
    been idle long enough (its record is then already removed, under the exclusive lock)."""
    fd = os.open(directory / "clients.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        now = time.monotonic()
        if idle_since is None:
            return now
        if now - idle_since < idle_timeout:
            return idle_since
        _remove_own_state(state_path)  # while no command can take the lock
        return 0
    finally:
        os.close(fd)


def _remove_own_state(state_path: Path) -> None:
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(state, dict) and state.get("pid") == os.getpid():
        state_path.unlink(missing_ok=True)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "supervise":
        sys.exit("usage: python -m corpusforge.flows.server supervise ROOT PORT IDLE_S")
    sys.exit(supervise(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
