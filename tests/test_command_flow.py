"""What a stage command's flow run costs beyond its work: one-unit steps stay in the flow
process, and the run's heartbeats end with it instead of making the command wait."""

from __future__ import annotations

import os
import threading

import prefect.events
from prefect import flow
from prefect.context import FlowRunContext
from prefect.settings import get_current_settings

from corpusforge.flows.common import flow_heartbeats, run_command_flow, task_runner_for
from corpusforge.flows.stage_driver import run_stage_job
from corpusforge.flows.workers import shutdown_pool, warm_pool
from corpusforge.pipeline.stage import StageJob, Units


def _pids_job(units: int):
    def steps():
        pids = yield Units("pids", os.getpid, [()] * units)
        return {"pids": pids}

    return StageJob("probe", steps())


@flow
def driver_flow(units: int) -> dict:
    return run_stage_job(_pids_job(units), workers=2)


def test_a_one_unit_step_runs_in_the_flow_process(prefect_harness):
    shutdown_pool()
    warm_pool(2)  # running workers: the one unit still stays here
    try:
        one = driver_flow.with_options(task_runner=task_runner_for(None, 2, single_unit=True))(1)
        assert one["pids"] == [os.getpid()]
        many = driver_flow.with_options(task_runner=task_runner_for(None, 2))(4)
        assert os.getpid() not in many["pids"]  # several units: on the warm workers
    finally:
        shutdown_pool()


_THREADS: list[threading.Thread] = []


@flow
def beating_flow(label: str) -> dict:
    with flow_heartbeats():
        _THREADS[:] = [t for t in threading.enumerate() if t.name == "flow-heartbeats"]
        return {
            "engine_period": get_current_settings().flows.heartbeat_frequency,
            "threads": len(_THREADS),
            "run_id": str(FlowRunContext.get().flow_run.id),
        }


def test_command_flows_send_their_heartbeats_and_stop_them_at_once(prefect_harness, monkeypatch):
    sent = []
    monkeypatch.setattr(prefect.events, "emit_event", lambda **kw: sent.append(kw))
    period = get_current_settings().flows.heartbeat_frequency
    assert period is not None  # Prefect's default: heartbeats on

    seen = run_command_flow(beating_flow, "command")

    assert seen["engine_period"] is None  # the engine's own (joined) thread is off in the run
    assert seen["threads"] == 1
    _THREADS[0].join(timeout=5)
    assert not _THREADS[0].is_alive()
    assert get_current_settings().flows.heartbeat_frequency == period  # restored after
    assert [s["event"] for s in sent] == ["prefect.flow-run.heartbeat"]
    assert sent[0]["resource"]["prefect.resource.id"] == f"prefect.flow-run.{seen['run_id']}"
    assert [r["prefect.resource.role"] for r in sent[0]["related"]][:1] == ["flow"]

    # a flow run not started through run_command_flow: the engine sends them, not this
    sent.clear()
    seen = beating_flow("direct")
    assert seen["engine_period"] == period and seen["threads"] == 0 and sent == []
