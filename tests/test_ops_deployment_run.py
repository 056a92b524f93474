"""A deployment run, executed as `serve` and the process worker execute it (a fresh
`python -m prefect.engine` process for the flow run), ends without a traceback.

The data stages start their warm workers in the background from the fork server (Prefect's
threads already run); a short run used to end while the fork server was still importing the
stage libraries, and the workers it forked then failed to unpickle their queues' semaphores,
unlinked at the flow process's exit (FileNotFoundError from SemLock._rebuild on stderr)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid


def test_deployment_run_in_a_worker_process_ends_without_a_traceback(prefect_harness, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL

    from corpusforge.flows.pipeline_config import PipelineConfig
    from corpusforge.flows.pipeline_deployments import build_deployments

    drop = tmp_path / "drop"
    drop.mkdir()
    texts = [" ".join(["harbor lantern meadow signal"] * 40) + f" {i}." for i in range(3)]
    (drop / "night.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    config = PipelineConfig(
        name="worker-run", inputs=[str(drop)], output=str(tmp_path / "out"), stages=["ingest"]
    )
    nightly = build_deployments(config, drop_folder=str(drop))[0]  # nightly-prepare
    nightly.name = f"nightly-{uuid.uuid4().hex[:8]}"
    nightly.apply()
    flow_run = run_deployment(f"corpus-to-model/{nightly.name}", timeout=0)

    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT__FLOW_RUN_ID": str(flow_run.id),
        "CORPUSFORGE_WORKSPACE": str(tmp_path / "ws"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "prefect.engine"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "SemLock" not in done.stderr and "FileNotFoundError" not in done.stderr
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(flow_run.id).state.is_completed()
    batches = list((tmp_path / "out" / "batches").iterdir())
    assert len(batches) == 1 and (batches[0] / "documents" / "manifest.json").is_file()
