"""The stage contract: what a stage is, and the local driver that runs any stage.

A stage run is a *job*: a generator that does the stage's own bookkeeping (checks its output
directory, reads its inputs, assembles and publishes its output) and yields the work it needs
done as requests, receiving each request's results back:

- `Units(step, fn, calls, ...)`: the pure per-unit function `fn(*call)` for every unit (an
  input file, a shard, a byte range), results in input order. Units are independent, so a
  driver may spread them over processes, threads or a cluster.
- `Single(step, fn, args)`: one call that needs every unit's result (clustering, training the
  tokenizer).

The job returns the stage's manifest. Every unit function caches its result through
`CachedUnit` (key, completion marker with the sha256 of each file, verified reuse), every job
publishes through `StagedOutput` (staging directory, rename, never over a foreign directory)
and writes a manifest whose counts satisfy `in = out + rejected + removed`
(`corpusforge.pipeline.stage_io`, `corpusforge.pipeline.manifest`).

Two drivers run any job: `run_local` here (a process pool, no Prefect), and the Prefect driver
in `corpusforge.flows.stage_driver` (one task per batch of units, retries, progress artifacts).
Both send the same requests to the same functions, so they publish the same bytes.

    from corpusforge.pipeline.stage import run_local
    from corpusforge.pipeline.pii.stage import pii_job
    manifest = run_local(pii_job("docs/", "scrubbed/"), workers=2)
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpusforge.core.processes import exit_with_parent
from corpusforge.core.progress import StepProgress
from corpusforge.pipeline.remote import io_threads


@dataclass(frozen=True)
class Units:
    """Run `fn(*call)` for every call; the results come back in the order of `calls`.

    `names` are short labels of the units (a file name, not its path) for task names and
    progress; `sizes` their input bytes, so a driver can balance batches by work, not count.
    """

    step: str
    fn: Callable[..., Any]
    calls: Sequence[tuple[Any, ...]]
    names: Sequence[str] = ()
    sizes: Sequence[int] = ()
    # How many documents a result holds (for the documents/s a driver shows).
    documents: Callable[[Any], int] | None = None
    # False when this process may hold native thread pools that a fork does not copy (the
    # tokenizer's after training): the local driver then starts fresh processes.
    fork_safe: bool = True
    # Set-up the local driver runs once here before it forks its workers, so they inherit it
    # (loaded kernels); the Prefect driver's workers load the stage modules when they start.
    warm_up: Callable[[], None] | None = None

    def documents_in(self, result: Any) -> int:
        return self.documents(result) if self.documents is not None else 0

    def __post_init__(self) -> None:
        if not self.names:
            object.__setattr__(self, "names", [f"unit-{i:05d}" for i in range(len(self.calls))])
        if not self.sizes:
            object.__setattr__(self, "sizes", [1] * len(self.calls))


@dataclass(frozen=True)
class Single:
    """Run `fn(*args)` once; its result comes back."""

    step: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = field(default_factory=tuple)


Request = Units | Single
JobSteps = Generator[Request, Any, dict[str, Any]]


@dataclass
class StageJob:
    """One run of one stage: its name and the generator that does it (see the module doc)."""

    stage: str
    steps: JobSteps
    workers: int | None = None  # the stage's own preference (a config setting), if any


def unit_names(paths: Sequence[str | Path]) -> list[str]:
    """Short, unique-enough labels for units that are files: the file name."""
    return [Path(str(p)).name or str(p) for p in paths]


def unit_sizes(paths: Sequence[str | Path]) -> list[int]:
    return [os.path.getsize(p) if os.path.isfile(p) else 1 for p in paths]


def drive(job: StageJob, run_request: Callable[[Request], Any]) -> dict[str, Any]:
    """Feed `job` the results of its requests (computed by `run_request`) until it returns its
    manifest. A request that fails is raised inside the job, so its staging directory and
    other clean-up run before the error reaches the caller."""
    return drive_steps(job.steps, run_request)


def drive_steps(steps: Generator[Request, Any, Any], run_request: Callable[[Request], Any]) -> Any:
    """`drive` for any generator of requests (a job's, or a part of one); its return value."""
    try:
        request = next(steps)
    except StopIteration as stop:  # nothing to compute
        return stop.value
    while True:
        try:
            result = run_request(request)
        except BaseException as exc:
            try:
                steps.throw(exc)
            except StopIteration as stop:  # the job handled the failure and finished
                return stop.value
            raise  # a job that neither re-raises nor finishes: keep the original error
        try:
            request = steps.send(result)
        except StopIteration as stop:
            return stop.value


def run_local(job: StageJob, workers: int | None = None) -> dict[str, Any]:
    """Run a stage job in this process and a pool of `workers` processes (default: the
    cores); with one worker, or one unit, everything runs in this process."""
    workers = max(1, workers or job.workers or os.cpu_count() or 1)
    pool: ProcessPoolExecutor | None = None

    def run_request(request: Request) -> Any:
        nonlocal pool
        if isinstance(request, Single):
            return request.fn(*request.args)
        with StepProgress(f"{job.stage}: {request.step}", len(request.calls)) as progress:
            if workers == 1 or len(request.calls) <= 1:
                results = []
                for call in request.calls:
                    result = request.fn(*call)
                    results.append(result)
                    progress.advance(1, documents=request.documents_in(result))
                return results
            if not request.fork_safe:
                with ProcessPoolExecutor(
                    workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_worker_setup,
                ) as fresh:
                    return _collect(fresh, request, progress)
            if pool is None and request.warm_up is not None:
                request.warm_up()
            # Started at the first step that needs it, after the job's set-up in this process,
            # so forked workers inherit what it loaded (kernels, models).
            pool = pool or ProcessPoolExecutor(
                workers, mp_context=_start_method(), initializer=_worker_setup
            )
            return _collect(pool, request, progress)

    try:
        return drive(job, run_request)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _collect(pool: ProcessPoolExecutor, request: Units, progress: StepProgress) -> list[Any]:
    futures = [pool.submit(request.fn, *call) for call in request.calls]
    results = []
    for future in futures:
        result = future.result()
        results.append(result)
        progress.advance(1, documents=request.documents_in(result))
    return results


def _start_method() -> multiprocessing.context.BaseContext:
    """Fork while no other Python thread runs (a fork could copy a lock one holds); the fork
    server otherwise. fsspec's I/O threads (left by fetching or publishing a URL) do not
    count: they idle between calls and fsspec resets its loop in a forked child."""
    others = set(threading.enumerate()) - {threading.current_thread()} - io_threads()
    if not others and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver")


def _worker_setup() -> None:
    """One thread each for libraries with thread pools: the processes are the parallelism. A
    worker exits when its parent is gone."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    exit_with_parent()
