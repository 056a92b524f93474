"""Warm worker processes: task compute goes to one pool that outlives flow runs."""

from __future__ import annotations

import os
import signal

import pytest
from prefect import flow, task

from corpusforge.flows.common import task_runner_for
from corpusforge.flows.workers import WorkerCrashed, compute, shutdown_pool, warm_pool


@task
def pid_task(_: int) -> int:
    return compute(os.getpid)


@task
def crash_task(_: int) -> int:
    return compute(os.kill, os.getpid(), 0) or compute(_die)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@flow
def pids_flow(n: int) -> list[int]:
    return [f.result() for f in pid_task.map(list(range(n)))]


@flow
def crash_flow() -> int:
    return crash_task.submit(0).result()


@pytest.fixture
def fresh_pool():
    shutdown_pool()
    yield
    shutdown_pool()


def test_compute_runs_on_warm_workers_kept_across_flow_runs(prefect_harness, fresh_pool):
    warm_pool(2)  # (while workers start, compute may run in the flow process instead)
    first = set(pids_flow.with_options(task_runner=task_runner_for("processes", 2))(6))
    second = set(pids_flow.with_options(task_runner=task_runner_for(None, 2))(6))
    assert os.getpid() not in first | second
    # the pool's processes served both runs: no new start-up for the second
    assert len(first | second) <= max(2, os.cpu_count() or 1)


def test_threads_runner_keeps_compute_in_the_flow_process(prefect_harness, fresh_pool):
    pids = pids_flow.with_options(task_runner=task_runner_for("threads", 2))(3)
    assert set(pids) == {os.getpid()}


def test_a_dead_worker_fails_its_task_clearly_and_the_next_run_gets_new_workers(
    prefect_harness, fresh_pool
):
    warm_pool(1)  # _die must run on a worker, not in this process
    with pytest.raises(WorkerCrashed, match="worker process died while running _die"):
        crash_flow.with_options(task_runner=task_runner_for("processes", 1))()
    warm_pool(1)
    assert os.getpid() not in pids_flow.with_options(task_runner=task_runner_for("processes", 1))(2)


def test_batches_follow_bytes_not_shard_count(monkeypatch):
    from corpusforge.flows import stage_driver

    small = [10] * 100
    groups = stage_driver.batches(small, workers=2)
    assert len(groups) == 4 and [i for g in groups for i in g] == list(range(100))  # in order
    assert max(map(len, groups)) - min(map(len, groups)) <= 1

    monkeypatch.setattr(stage_driver, "BATCH_BYTES", 1000)
    big = [3000, 3000, *[100] * 30]
    groups = stage_driver.batches(big, workers=1)
    assert len(groups) == 9  # 9000 bytes / 1000 per task
    assert groups[0] == [0] and groups[1] == [1]  # a large unit is a task of its own
    assert stage_driver.batches(small[:3], workers=2) == [[0], [1], [2]]
    assert stage_driver.batches([], workers=2) == []


def test_while_workers_start_one_call_at_a_time_runs_in_the_flow_process(
    prefect_harness, fresh_pool
):
    """Nothing waits with idle cores for the fork server: the flow process, which has the
    stage code loaded, takes one call at a time until the workers run; then they take over."""
    pids = pids_flow.with_options(task_runner=task_runner_for("processes", 2))(40)
    assert len(pids) == 40
    warm_pool(2)  # waits until the workers run
    later = pids_flow.with_options(task_runner=task_runner_for("processes", 2))(6)
    assert os.getpid() not in later


@task
def env_task(name: str) -> str | None:
    return compute(os.getenv, name)


@flow
def env_flow(name: str) -> str | None:
    return env_task.submit(name).result()


def test_workers_see_the_current_corpusforge_settings(prefect_harness, fresh_pool, monkeypatch):
    """Workers outlive flow runs (and a fork server keeps the environment it started with):
    each call carries today's settings (a salt or workspace set later must reach the workers,
    one unset must not linger), and the same workers serve them all."""
    run = env_flow.with_options(task_runner=task_runner_for("processes", 1))
    pool = warm_pool(1)
    monkeypatch.setenv("CORPUSFORGE_PROBE", "first")
    assert run("CORPUSFORGE_PROBE") == "first"
    monkeypatch.setenv("CORPUSFORGE_PROBE", "second")
    assert run("CORPUSFORGE_PROBE") == "second"
    monkeypatch.delenv("CORPUSFORGE_PROBE")
    assert run("CORPUSFORGE_PROBE") is None
    assert warm_pool(1) is pool


_START_METHODS = """
import os, threading
from corpusforge.flows.workers import (
    _target, compute_each, prestart, ready_pool, shutdown_pool, warm_pool,
)

_target.set(2)
assert threading.active_count() == 1
prestart(2)  # no other thread: the workers are plain forks of this process, started now
pool = ready_pool(2)
assert pool is not None and pool._mp_context.get_start_method() == "fork"
assert set(compute_each(os.getppid, [()] * 4)) == {os.getpid()}
shutdown_pool()

stop = threading.Event()
threading.Thread(target=stop.wait, daemon=True).start()  # as Prefect's threads would be
warm_pool(2)
assert ready_pool(2)._mp_context.get_start_method() == "forkserver"
parents = set(compute_each(os.getppid, [()] * 4))
assert os.getpid() not in parents and len(parents) == 1  # forked by the fork server
stop.set()
shutdown_pool()
print("ok")
"""


def test_workers_are_forks_of_a_threadless_process_else_of_the_fork_server():
    """A fork copies only the forking thread: with another thread running it could copy a
    lock that thread holds, so then the fork server starts the workers."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _START_METHODS], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
