"""The Prefect driver: runs any stage job (corpusforge.pipeline.stage) inside a flow run.

Each `Units` request becomes a few tasks, each a contiguous batch of units balanced by input
bytes, whose compute goes to the warm worker processes (corpusforge.flows.workers) or, with a
Dask task runner, to the cluster; each `Single` request is one task. Tasks retry on I/O errors
only, are named after the stage, the step and their first unit's short name, and a keyed
progress artifact per step shows the UI how far the stage is. Results are the stage's own
cached units, so Prefect's result caching is off.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from pydantic import Field

from corpusforge.core.progress import StepProgress
from corpusforge.core.settings import LocalPathOrUrl, StrictModel, TaskRunnerAddress
from corpusforge.flows.common import (
    Progress,
    flow_heartbeats,
    retry_on_io_error,
    run_command_flow,
    task_runner_for,
)
from corpusforge.flows.dask_paths import check_worker_paths
from corpusforge.flows.workers import compute_each
from corpusforge.pipeline.remote import check_output
from corpusforge.pipeline.stage import Request, Single, StageJob, Units, drive

# A task's share of a step: about this much input, and TASKS_PER_WORKER tasks per worker when
# there are enough units. That is as many tasks as the runner has threads, so all of them are
# in flight at once and the worker pool balances the load unit by unit (a task submits each of
# its units); more tasks would only add Prefect's per-task cost (states and events the API
# server stores). Task counts grow with the data in large steps, not with the unit count.
BATCH_BYTES = 256 << 20
TASKS_PER_WORKER = 2


@task(
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=retry_on_io_error,
    task_run_name="{stage}-{step}-{first}",
    cache_policy=NO_CACHE,
)
def units_task(
    stage: str, step: str, first: str, fn, calls: list[tuple], here: bool = False
) -> list[Any]:
    """A batch of units of one step (each cached on its own, so a retry redoes only the
    unfinished ones); with `here`, computed in the task itself instead of on the workers."""
    if here:
        return [fn(*args) for args in calls]
    return compute_each(fn, calls)


@task(task_run_name="{stage}-{step}", cache_policy=NO_CACHE)
def single_task(stage: str, step: str, fn, args: tuple) -> Any:
    return fn(*args)


def run_stage_job(job: StageJob, workers: int | None = None) -> dict[str, Any]:
    """Run `job` in the current flow run; returns its manifest."""
    workers = workers or job.workers or os.cpu_count() or 1

    def run_request(request: Request) -> Any:
        if isinstance(request, Single):
            return single_task.submit(job.stage, request.step, request.fn, request.args).result()
        return _map_units(job.stage, request, workers)

    return drive(job, run_request)


class StageParams(StrictModel):
    """What every data-stage flow takes besides its inputs and its config (what
    `run_stage_flow` reads)."""

    output: LocalPathOrUrl = Field(..., description="the stage's output directory (or URL)")
    task_runner: TaskRunnerAddress | None = Field(
        None, description="dask://HOST:PORT, threads, or processes"
    )
    overwrite: bool = Field(False, description="replace an earlier output of this stage")


class ShardStageParams(StageParams):
    """A stage that reads document shards (the output of an earlier stage, or a dataset)."""

    input: LocalPathOrUrl = Field(..., description="document shards: directory, .parquet or .jsonl")
    allow_incomplete: bool = Field(
        False, description="read an input directory without a complete manifest (recorded)"
    )


def run_stage_flow(
    stage_flow: Any,
    params: Any,
    *,
    stage: str,
    inputs: Sequence[str],
    units: Callable[[], int],
    workers: int | None = None,
) -> dict[str, Any]:
    """How every data-stage command and pipeline step launches its flow: refuse an output that
    is foreign or finished (before any work), check that Dask workers can see the inputs, size
    the local workers by the input's units (up to `workers`, default the cores; none at all for
    one small shard, whose steps run in this process), and run the flow with the command's
    heartbeats (`run_command_flow`). `units` is called after those checks."""
    check_output(params.output, stage, overwrite=params.overwrite)
    check_worker_paths(params.task_runner, list(inputs))
    n = units()
    count = min(n, workers or os.cpu_count() or 1)
    runner = task_runner_for(params.task_runner, workers=count, single_unit=n == 1)
    return run_command_flow(stage_flow.with_options(task_runner=runner), params)


def run_and_record(
    job: StageJob, record: Callable[[dict[str, Any]], None], workers: int | None = None
) -> dict[str, Any]:
    """A stage flow's body: run `job` on the driver, then `record` its manifest (audit entries,
    artifacts), with the heartbeats of a run started by `run_stage_flow`."""
    with flow_heartbeats():
        manifest = run_stage_job(job, workers)
        record(manifest)
    return manifest


def _map_units(stage: str, request: Units, workers: int) -> list[Any]:
    groups = batches(request.sizes, workers)
    total = len(request.calls)
    progress = Progress(
        total, f"{stage}: {request.step}, {total} units", key=f"{stage}-{request.step}"
    )
    # A step of one unit cannot run in parallel: it runs in the task (in this process, which
    # has the stage loaded), as run_local does; a worker would first repeat the stage's
    # start-up (its libraries, compiled kernels) for it, which costs more than a small unit.
    here = total == 1
    futures = [
        units_task.submit(
            stage,
            request.step,
            request.names[g[0]],
            request.fn,
            [request.calls[i] for i in g],
            here=here,
        )
        for g in groups
    ]
    position = {id(f): i for i, f in enumerate(futures)}
    results: list[list[Any] | None] = [None] * len(futures)
    with StepProgress(f"{stage}: {request.step}", total) as bar:
        for future in as_completed(futures):
            i = position[id(future)]
            results[i] = future.result()
            progress.advance(len(groups[i]))
            bar.advance(len(groups[i]), documents=sum(map(request.documents_in, results[i])))
    return [r for batch in results for r in batch or []]


def batches(sizes: Sequence[int], workers: int) -> list[list[int]]:
    """Contiguous batches of unit indices, balanced by size in bytes."""
    if not sizes:
        return []
    total = sum(sizes)
    n = min(len(sizes), max(TASKS_PER_WORKER * max(workers, 1), -(-total // BATCH_BYTES)))
    out: list[list[int]] = []
    done = 0
    for i, size in enumerate(sizes):
        # start a new batch when this unit's midpoint passes the next equal share of the bytes
        if not out or (len(out) < n and (done + size / 2) * n >= len(out) * total):
            out.append([])
        out[-1].append(i)
        done += size
    return out
