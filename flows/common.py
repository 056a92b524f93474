"""Helpers every flow uses: the task runner, artifacts, progress and audit entries."""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from corpusforge.core.audit import open_audit_log
from corpusforge.core.processes import die_with_parent_signal
from corpusforge.core.workspace import Workspace
from corpusforge.flows.workers import computing_on_workers, prestart


def share_api_with_workers() -> None:
    """Point worker processes at this process's Prefect API.

    Without a configured PREFECT_API_URL, Prefect runs an ephemeral API server inside each
    process that needs one; every process-pool worker would then start its own (seconds each,
    minutes on a busy machine). The workspace's background server (`corpusforge.flows.server`,
    started on first use) is used instead, or with CORPUSFORGE_PREFECT_SERVER=temporary a
    server of this process; its URL is exported so that the workers, which inherit the
    environment, report to it too.
    """
    from prefect.settings import get_current_settings

    if os.environ.get("PREFECT_API_URL") or get_current_settings().api.url:
        return
    from corpusforge.flows import server as workspace_server

    if workspace_server.enabled():  # one background server per workspace, reused
        os.environ["PREFECT_API_URL"] = workspace_server.ensure(Workspace.resolve())
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()  # Prefect read the environment at import
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the same instance Prefect's own ephemeral mode uses
    with _servers_die_with_this_process():
        server.start(timeout=get_current_settings().server.ephemeral.startup_timeout_seconds)
    os.environ["PREFECT_API_URL"] = server.api_url


@contextlib.contextmanager
def _servers_die_with_this_process():
    """Prefect starts its server with `subprocess.Popen` and no hook: while it does (on the
    main thread, before any task runs), Popen adds the parent-death signal, so a `kill -9` of
    the command does not leave the server running."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    original = subprocess.Popen

    def popen(*args, **kwargs):
        kwargs.setdefault("preexec_fn", die_with_parent_signal)
        return original(*args, **kwargs)

    subprocess.Popen = popen  # type: ignore[misc]
    try:
        yield
    finally:
        subprocess.Popen = original  # type: ignore[misc]


def task_runner_for(
    address: str | None = None, workers: int | None = None, *, single_unit: bool = False
) -> TaskRunner:
    """Where a data stage's tasks run: by default on threads that hand their compute to this
    process's warm worker processes (`corpusforge.flows.workers`); `processes` is the same;
    `threads` keeps the compute in the threads; `dask://HOST:PORT` runs tasks on a Dask cluster.

    `single_unit`: the input is one unit, so every step runs in this process (see
    `corpusforge.flows.stage_driver`) and starting the workers would only cost CPU; they still
    start on demand if a task asks for them."""
    local = not address or address == "processes"
    if local and not single_unit:
        prestart(workers)  # first: while no thread runs, the workers are plain forks
    share_api_with_workers()
    if address and address.startswith(("dask://", "tcp://")):
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=address.replace("dask://", "tcp://", 1))
    if address == "threads":
        return ThreadPoolTaskRunner(max_workers=workers or os.cpu_count() or 1)

    return LocalWorkersTaskRunner(
        max_workers=workers or os.cpu_count() or 1, prestart_workers=not single_unit
    )


class LocalWorkersTaskRunner(ThreadPoolTaskRunner):
    """Tasks on threads, their compute (see `corpusforge.flows.workers.compute`) on the warm
    worker processes."""

    def __init__(self, max_workers: int | None = None, prestart_workers: bool = True):
        workers = max_workers or os.cpu_count() or 1
        # Twice as many task threads as workers: while one task of a worker's share is being
        # recorded by Prefect, the next one's compute is already queued, so no worker idles.
        super().__init__(max_workers=2 * workers)
        self._workers = workers
        self._prestart = prestart_workers

    def duplicate(self) -> LocalWorkersTaskRunner:
        return type(self)(max_workers=self._workers, prestart_workers=self._prestart)

    def __enter__(self):
        if self._prestart:
            prestart(self._workers)  # tasks compute here until the workers run (compute_each)
        return super().__enter__()

    def submit(self, *args: Any, **kwargs: Any):
        with computing_on_workers(self._workers):
            return super().submit(*args, **kwargs)


# The heartbeat period of a flow run whose heartbeats this module sends (see run_command_flow).
_heartbeat_s: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "corpusforge_heartbeat_s", default=None
)


def run_command_flow(flow_fn: Any, params: Any) -> Any:
    """Run a stage flow (`run_stage_flow`: the stage commands and the pipeline's steps):
    the same flow run, with its heartbeats sent by `flow_heartbeats` instead of Prefect's
    engine. Prefect's heartbeat thread sleeps in
    one-second steps and the engine waits for it when the run ends, which added 0-1 s (0.8 s
    on a 20-document dedup or tokenize) to every command after its work was done; this
    thread waits on an event, so it stops at once. The events are the same
    (`prefect.flow-run.heartbeat`, at the start and then every
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds while the run lasts)."""
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        get_current_settings,
        temporary_settings,
    )

    period = get_current_settings().flows.heartbeat_frequency
    if period is None:
        return flow_fn(params)
    token = _heartbeat_s.set(period)
    try:
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            return flow_fn(params)
    finally:
        _heartbeat_s.reset(token)


@contextlib.contextmanager
def flow_heartbeats():
    """Inside a flow run started by `run_command_flow`: send its heartbeats (as Prefect's
    engine would) until the block ends; elsewhere nothing (the engine sends them)."""
    period = _heartbeat_s.get()
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if period is None or ctx is None or ctx.flow_run is None:
        yield
        return
    from prefect import __version__
    from prefect.events import emit_event
    from prefect.events.related import tags_as_related_resources
    from prefect.events.schemas.events import RelatedResource

    run = ctx.flow_run
    resource = {
        "prefect.resource.id": f"prefect.flow-run.{run.id}",
        "prefect.resource.name": run.name or "",
        "prefect.version": __version__,
    }
    related: list[RelatedResource] = []
    if run.flow_id:
        related.append(
            RelatedResource.model_validate(
                {
                    "prefect.resource.id": f"prefect.flow.{run.flow_id}",
                    "prefect.resource.role": "flow",
                    "prefect.resource.name": ctx.flow.name if ctx.flow else "",
                }
            )
        )
    if run.deployment_id:
        related.append(
            RelatedResource.model_validate(
                {
                    "prefect.resource.id": f"prefect.deployment.{run.deployment_id}",
                    "prefect.resource.role": "deployment",
                }
            )
        )
    related += tags_as_related_resources(set(run.tags or []))
    stop = threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):  # as the engine: a missed beat is no failure
                emit_event(event="prefect.flow-run.heartbeat", resource=resource, related=related)
            if stop.wait(period):
                return

    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(beat,), name="flow-heartbeats", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()  # the thread ends at once; nothing waits for it


def retry_on_io_error(task, task_run, state) -> bool:
    """Retry condition for tasks: I/O trouble (network file systems, busy disks) is worth a
    retry; bad data and bugs are not."""
    try:
        state.result()
    except (OSError, TimeoutError):
        return True
    except Exception:
        return False
    return False


def stage_cache_dir(stage: str) -> str:
    """Where a stage keeps its finished per-file/per-shard results (reused on reruns)."""
    return str(Workspace.resolve().root / "cache" / stage)


def artifact_key(name: str) -> str:
    """Prefect artifact keys: lower-case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:100]


def publish_table(key: str, rows: Sequence[Mapping[str, Any]], description: str) -> None:
    create_table_artifact(
        key=artifact_key(key), table=[dict(r) for r in rows], description=description
    )


def publish_report_link(html: str) -> None:
    """The compliance report as a link artifact, in a flow run of its own ("compliance-report"),
    so the UI's artifacts page and runs list lead to it."""
    from prefect import flow

    @flow(name="compliance-report", log_prints=False)
    def compliance_report(html: str) -> None:
        publish_link("compliance-report", Path(html), "Compliance report (HTML)")

    compliance_report(html)


def publish_link(key: str, path: Path, description: str) -> None:
    """A link artifact to a file the run wrote (the compliance report), so the UI's artifacts
    page leads to it."""
    create_link_artifact(
        key=artifact_key(key),
        link=path.resolve().as_uri(),
        link_text=path.name,
        description=description,
    )


def publish_markdown(key: str, markdown: str, description: str) -> None:
    create_markdown_artifact(key=artifact_key(key), markdown=markdown, description=description)


class Progress:
    """A progress artifact the UI shows while a stage runs, updated at most once a second
    (and when done): each update is an API call and an event the server stores."""

    MIN_INTERVAL_S = 1.0

    def __init__(self, total: int, description: str, key: str | None = None):
        self.total = max(total, 1)
        self.done = 0
        self.id = create_progress_artifact(
            progress=0.0,
            key=artifact_key(f"{key}-progress") if key else None,
            description=description,
        )
        self._shown_at = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.done >= self.total or now - self._shown_at >= self.MIN_INTERVAL_S:
            update_progress_artifact(self.id, progress=min(100.0, 100.0 * self.done / self.total))
            self._shown_at = now


def audit(
    action: str,
    obj: str,
    *,
    counts: Mapping[str, Any] | None = None,
    details: Mapping[str, Any] | None = None,
    decision: str = "ok",
) -> None:
    """Append one audit entry (ids, hashes, counts; never text or PII)."""
    open_audit_log().append(action, obj, counts=counts, details=details, decision=decision)


def audit_each(action: str, entries: Sequence[Mapping[str, Any]]) -> None:
    """Append one audit entry per item (dicts with object, counts, details) in one commit."""
    open_audit_log().append_many([{"action": action, **e} for e in entries])


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "_none_"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)
