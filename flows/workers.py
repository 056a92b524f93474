"""Warm local worker processes for the data stages, shared by every flow run of a process.

Prefect's ProcessPoolTaskRunner spawns fresh processes for each flow run, and each of them
imports Prefect and the stage's libraries (presidio, numba kernels, readers) before the first
task starts; on 2 cores that cost more than the work on a small corpus. Here tasks are
orchestrated on threads (task states, retries, caching, UI: all Prefect's) and each task sends
its compute function to one pool of worker processes that lives as long as this process, so
`corpusforge serve` and a multi-stage pipeline pay the start-up once.

Workers start with the stage modules loaded. A pipeline starts them before Prefect runs any
thread, and then they are plain forks of this process (instant, everything imported). Forking
a process in which other threads run can copy a lock one of them holds, so once Prefect's
threads exist a new pool (after a crash, in a long-lived server) is forked from a fork server
that imports the stage modules itself (seconds of CPU) and never imports Prefect.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextvars import ContextVar
from typing import Any, TypeVar

from corpusforge.core.processes import exit_with_parent

T = TypeVar("T")

# Imported once by the fork server, so every worker starts with the stages loaded.
PRELOAD = ["corpusforge.flows.worker_preload"]

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0
# Set for the tasks a LocalWorkersTaskRunner submits: how many workers their compute gets.
_target: ContextVar[int | None] = ContextVar("corpusforge_workers", default=None)
# One call at a time may run in the flow process while the workers start.
_inline = threading.Semaphore(1)
# The background start of the workers (prestart), and whether this process is exiting.
_starter: threading.Thread | None = None
_exiting = threading.Event()


class WorkerCrashed(OSError):
    """A worker process died (killed, out of memory); the task may be retried on a new one."""


def warm_pool(
    workers: int, warm_up: Callable[[], None] | None = None, wait: bool = True
) -> ProcessPoolExecutor:
    """This process's pool of at least `workers` processes, started now (blocking until they
    run, unless `wait` is false) if it is not running; each new worker first runs `warm_up`."""
    global _pool, _pool_size
    workers = max(workers, os.cpu_count() or 1)  # one size for every stage: no restarts
    with _lock:
        if _pool is not None:
            if _pool_size >= workers:
                return _pool
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool, _pool_size = None, 0
        pool = ProcessPoolExecutor(
            workers, mp_context=_start_method(), initializer=_worker_setup, initargs=(warm_up,)
        )
        try:
            started = [pool.submit(int) for _ in range(workers)]  # each submit starts a worker
            for f in started if wait else ():
                f.result()
        except BaseException:
            # Workers already forked still unpickle their queues' semaphores: let them exit
            # before this process (whose exit unlinks the semaphores) goes on.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        _pool, _pool_size = pool, workers
        return pool


def _start_method() -> multiprocessing.context.BaseContext:
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        # No other Python thread whose locks a fork could copy held; the native pools of
        # Arrow, OpenBLAS and tokenizers reset themselves at fork.
        return multiprocessing.get_context("fork")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def ready_pool(workers: int) -> ProcessPoolExecutor | None:
    """The pool if its workers are already running (never waits)."""
    pool, size = _pool, _pool_size
    return pool if pool is not None and size >= workers else None


def _worker_setup(warm_up: Callable[[], None] | None = None) -> None:
    """One thread each for libraries with thread pools: the processes are the parallelism.
    A worker exits when this process is gone (killed too: see corpusforge.core.processes)."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    exit_with_parent()
    if warm_up is not None:
        warm_up()


def _settings() -> dict[str, str]:
    """The environment the stage functions read (corpusforge's own variables)."""
    return {k: v for k, v in os.environ.items() if k.startswith("CORPUSFORGE_")}


def _with_settings(settings: dict[str, str], fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a worker under the caller's corpusforge settings: a worker outlives
    flow runs (and a fork server keeps the environment it started with), so the salt or
    workspace of this call travel with it, and one the caller has unset does not linger."""
    for name in [n for n in os.environ if n.startswith("CORPUSFORGE_") and n not in settings]:
        del os.environ[name]
    os.environ.update(settings)
    return fn(*args)


def start_early(workers: int | None = None, warm_up: Callable[[], None] | None = None) -> None:
    """Fork the workers now and return without waiting: each runs `warm_up` (loads the stage's
    libraries and compiled kernels) while this process goes on importing Prefect and creating
    its flow run, so the two start-ups overlap instead of following each other. A command
    calls it before it imports its flow; only while this process runs no other thread (the
    workers are then plain forks), otherwise `prestart` starts them later as usual."""
    n = workers or os.cpu_count() or 1
    if ready_pool(n) is None and threading.active_count() == 1:
        warm_pool(n, warm_up, wait=False)


def prestart(workers: int | None = None) -> None:
    """Start the workers: right away by forking this process while it runs no other thread
    (call it before Prefect starts, as `run_pipeline` does); otherwise in the background,
    since the fork server imports the stage libraries for seconds."""
    n = workers or os.cpu_count() or 1
    if ready_pool(n) is not None:
        return
    if threading.active_count() == 1:
        warm_pool(n)
        return
    global _starter
    with _lock:
        if _starter is not None and _starter.is_alive():
            return
        _starter = threading.Thread(
            target=_start_in_background, args=(n,), name="corpusforge-workers", daemon=True
        )
        _starter.start()


def _start_in_background(workers: int) -> None:
    """Start the fork server first (it imports the stage libraries for seconds) with a process
    that carries no semaphore, and only then the pool, whose workers fork from the ready
    server in milliseconds. A pool's workers unpickle the semaphores of its queues, which this
    process unlinks when it exits: a process that ended while the fork server was still
    importing left its workers a FileNotFoundError from SemLock._rebuild (a traceback on the
    console of `serve` and the process worker after short flow runs)."""
    ctx = _start_method()
    if ctx.get_start_method() == "forkserver":
        probe = ctx.Process(target=os.getpid, name="corpusforge-forkserver-probe")
        probe.start()
        probe.join()
    if _exiting.is_set():
        return
    try:
        warm_pool(workers)
    except RuntimeError:
        if not _exiting.is_set():  # "cannot schedule new futures after interpreter shutdown"
            raise


@atexit.register
def _finish_start() -> None:
    """At exit, a start in progress finishes its current step and stops (see above)."""
    _exiting.set()
    starter = _starter
    if starter is not None and starter.is_alive():
        starter.join(timeout=120)


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool, _pool_size
    with _lock:
        if _pool is pool:
            _pool, _pool_size = None, 0
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown_pool() -> None:
    """Stop the workers (tests; a long-lived server may keep them for its life)."""
    with _lock:
        pool = _pool
    if pool is not None:
        _discard(pool)


def compute(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` on the warm workers when the task came from a LocalWorkersTaskRunner; in
    the task's own thread or process otherwise (a thread runner, a Dask worker)."""
    return compute_each(fn, [args])[0]


def compute_each(fn: Callable[..., T], calls: list[tuple[Any, ...]]) -> list[T]:
    """`fn(*args)` for every args tuple of a batch, in order: spread over the warm workers, or
    one after another in this thread or process when the task was not sent to them.

    While the workers are still starting (the fork server imports the stage libraries), one
    call at a time runs here in the flow process, which has those libraries loaded already,
    so the first stage does not wait with idle cores.
    """
    workers = _target.get()
    if workers is None:
        return [fn(*args) for args in calls]
    results: list[Any] = [None] * len(calls)
    futures: dict[int, tuple[ProcessPoolExecutor, Future]] = {}
    settings = _settings()
    for i, args in enumerate(calls):
        pool = ready_pool(workers)
        if pool is None and _inline.acquire(blocking=False):
            try:
                results[i] = fn(*args)
            finally:
                _inline.release()
            continue
        pool = pool or warm_pool(workers)
        futures[i] = (pool, pool.submit(_with_settings, settings, fn, *args))
    for i, (pool, future) in futures.items():
        try:
            results[i] = future.result()
        except BrokenProcessPool as exc:
            _discard(pool)  # the next task (or this one's retry) gets a fresh pool
            raise WorkerCrashed(f"a worker process died while running {fn.__name__}") from exc
    return results


def on_warm_workers(fn: Callable[..., T], calls: list[tuple[Any, ...]]) -> list[T]:
    """`fn(*args)` for every call, spread over this process's warm workers when they run
    (a flow's own steps, such as converting the units of a large input file, outside any
    task); one after another here otherwise (a thread or Dask runner)."""
    pool = _pool
    if pool is None:
        return [fn(*args) for args in calls]
    token = _target.set(_pool_size)
    try:
        return compute_each(fn, calls)
    finally:
        _target.reset(token)


@contextlib.contextmanager
def computing_on_workers(workers: int) -> Iterator[None]:
    """Tasks submitted inside send their compute (`compute`, `compute_each`) to `workers` of
    the warm workers (the task runner of `corpusforge.flows.common` submits this way)."""
    token = _target.set(workers)
    try:
        yield
    finally:
        _target.reset(token)
