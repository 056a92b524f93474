"""Warm local worker processes for the data stages, shared by every flow run of a process.

Prefect's ProcessPoolTaskRunner spawns fresh processes for each flow run, and each of them
imports Prefect and the stage's libraries (presidio, numba kernels, readers) before the first
task starts; on 2 cores that cost more than the work on a small corpus. Here tasks are
orchestrated on threads (task states, retries, caching, UI: all Prefect's) and each task sends
its compute function to one pool of worker processes that lives as long as this process, so
`corpusforge serve` and a multi-stage pipeline pay the start-up once. The workers are forked
from a server that has the stage modules imported and never import Prefect themselves.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextvars import ContextVar
from typing import Any, TypeVar

from prefect.task_runners import ThreadPoolTaskRunner

T = TypeVar("T")

# Imported once by the fork server, so every worker starts with the stages loaded.
PRELOAD = ["flows.worker_preload"]

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_key: tuple[int, frozenset[tuple[str, str]]] | None = None  # (size, settings)
# Set for the tasks a LocalWorkersTaskRunner submits: where their compute goes.
_target: ContextVar[ProcessPoolExecutor | None] = ContextVar("corpusforge_workers", default=None)


class WorkerCrashed(OSError):
    """A worker process died (killed, out of memory); the task may be retried on a new one."""


def warm_pool(workers: int) -> ProcessPoolExecutor:
    """This process's pool of at least `workers` processes, started now if it is not running.

    Workers inherit the environment when they start, so a changed corpusforge setting
    (another workspace, other credentials) gets a fresh pool rather than stale workers.
    """
    global _pool, _pool_key
    workers = max(workers, os.cpu_count() or 1)  # one size for every stage: no restarts
    key = (workers, _settings())
    with _lock:
        if _pool is not None and _pool_key is not None:
            if _pool_key[0] >= workers and _pool_key[1] == key[1]:
                return _pool
            _pool.shutdown(wait=False, cancel_futures=True)
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        _pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_one_thread_each)
        _pool_key = key
        for _ in range(workers):  # start them now, while Prefect creates the flow run
            _pool.submit(int)
        return _pool


def _one_thread_each() -> None:
    """The processes are the parallelism: libraries with thread pools use one thread each."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


def _settings() -> frozenset[tuple[str, str]]:
    """The environment the stage functions read (corpusforge's own variables)."""
    return frozenset((k, v) for k, v in os.environ.items() if k.startswith("CORPUSFORGE_"))


def prestart(workers: int | None = None) -> None:
    """Start the workers in the background (the fork server imports the stage libraries for
    seconds): called when a pipeline starts, so that overlaps Prefect's own start-up."""
    n = workers or os.cpu_count() or 1
    threading.Thread(target=warm_pool, args=(n,), name="corpusforge-workers", daemon=True).start()


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool, _pool_key
    with _lock:
        if _pool is pool:
            _pool, _pool_key = None, None
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown_pool() -> None:
    """Stop the workers (tests; a long-lived server may keep them for its life)."""
    with _lock:
        pool = _pool
    if pool is not None:
        _discard(pool)


def compute(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn` on the warm workers when the task came from a LocalWorkersTaskRunner; in the
    task's own thread or process otherwise (a thread runner, a Dask worker)."""
    pool = _target.get()
    if pool is None:
        return fn(*args, **kwargs)
    try:
        return pool.submit(fn, *args, **kwargs).result()
    except BrokenProcessPool as exc:
        _discard(pool)  # the next task (or this one's retry) gets a fresh pool
        raise WorkerCrashed(f"a worker process died while running {fn.__name__}") from exc


def compute_each(fn: Callable[..., T], calls: list[tuple[Any, ...]]) -> list[T]:
    """`fn(*args)` for every args tuple of a batch, in order: all at once on the warm workers
    (the batch spreads over them), or one after another in this thread or process."""
    pool = _target.get()
    if pool is None:
        return [fn(*args) for args in calls]
    futures = [pool.submit(fn, *args) for args in calls]
    try:
        return [f.result() for f in futures]
    except BrokenProcessPool as exc:
        _discard(pool)
        raise WorkerCrashed(f"a worker process died while running {fn.__name__}") from exc


class LocalWorkersTaskRunner(ThreadPoolTaskRunner):
    """Tasks on threads, their compute (see `compute`) on the warm worker processes."""

    def __init__(self, max_workers: int | None = None):
        super().__init__(max_workers=max_workers or os.cpu_count() or 1)
        self._workers = max_workers or os.cpu_count() or 1

    def duplicate(self) -> LocalWorkersTaskRunner:
        return type(self)(max_workers=self._workers)

    def __enter__(self):
        self._compute_pool = warm_pool(self._workers)
        return super().__enter__()

    def submit(self, *args: Any, **kwargs: Any):
        token = _target.set(self._compute_pool)
        try:
            return super().submit(*args, **kwargs)
        finally:
            _target.reset(token)
