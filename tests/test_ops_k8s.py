"""Kubernetes: the GPU work-pool template against Prefect's own API and the Kubernetes worker,
the training deployments on that pool, and the multi-node PyTorchJob against the operator's
API types (kubeflow-training SDK models; no cluster here)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from corpusforge.core.errors import ConfigError
from corpusforge.flows.k8s_training import (
    PyTorchJobSettings,
    job_name,
    pytorchjob_manifest,
    validate_manifest,
)

pytest.importorskip("prefect_kubernetes")
pytest.importorskip("kubeflow.training")

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "infra" / "k8s" / "train-job-template.json"


def _api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


def _prefect_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_API_URL": _api_url()}
    prefect = Path(sys.executable).with_name("prefect")
    return subprocess.run(
        [str(prefect), *args], capture_output=True, text=True, env=env, timeout=120, cwd=REPO
    )


def test_template_is_accepted_by_prefect_and_renders_a_valid_job(prefect_harness, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import FlowRun
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    pool = f"gpu-train-{uuid.uuid4().hex[:6]}"
    # The command the issue reported failing (JSONDecodeError on the YAML template).
    done = _prefect_cli(
        "work-pool", "create", pool, "--type", "kubernetes", "--base-job-template", str(TEMPLATE)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with get_client(sync_client=True) as client:
        stored = client.read_work_pool(pool)
    assert stored.type == "kubernetes"
    assert stored.base_job_template == json.loads(TEMPLATE.read_text())

    # The Kubernetes worker builds its job configuration from the stored template (pydantic
    # validation of every job_configuration field) and renders the Job for a flow run.
    config = asyncio.run(
        KubernetesWorkerJobConfiguration.from_template_and_values(
            stored.base_job_template, {"image": "registry.example/corpusforge-cuda:1", "gpus": 4}
        )
    )
    config.prepare_for_flow_run(FlowRun(flow_id=uuid.uuid4(), name="t"))
    job = json.loads(json.dumps(config.job_manifest))
    # prefect-kubernetes insists on completions/parallelism inside the pod spec (its own default
    # template has them there; the API server drops unknown fields with a warning). The Job's
    # real ones are in spec. Everything else must be valid batch/v1 Job.
    pod = job["spec"]["template"]["spec"]
    assert pod.pop("completions") == pod.pop("parallelism") == 1
    validate_manifest(job, "V1Job")  # the Kubernetes API types of batch/v1 Job
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/corpusforge-cuda:1"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert container["args"][:3] == ["prefect", "flow-run", "execute"]
    env = {e["name"]: e for e in container["env"]}
    assert env["CORPUSFORGE_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "token"
    assert "PREFECT__FLOW_RUN_ID" in env  # the worker merged its own variables in

    # Prefect's validation is real: a placeholder without a variable is refused by the API.
    broken = json.loads(TEMPLATE.read_text())
    del broken["variables"]["properties"]["workspace_pvc"]
    bad = tmp_path / "broken-template.json"
    bad.write_text(json.dumps(broken))
    refused = _prefect_cli(
        "work-pool", "create", pool + "-x", "--type", "kubernetes", "--base-job-template", str(bad)
    )
    assert refused.returncode != 0
    assert "workspace_pvc" in refused.stdout + refused.stderr


def test_training_flows_deploy_to_the_kubernetes_pool(prefect_harness):
    from prefect import deploy
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    from corpusforge.flows.pipeline_deployments import build_training_deployments

    pool = f"gpu-{uuid.uuid4().hex[:6]}"
    with get_client(sync_client=True) as client:
        client.create_work_pool(
            WorkPoolCreate(
                name=pool, type="kubernetes", base_job_template=json.loads(TEMPLATE.read_text())
            )
        )
    deployments = build_training_deployments(image="registry.example/corpusforge-cuda:1")
    deploy(
        *deployments, work_pool_name=pool, build=False, push=False, print_next_steps_message=False
    )
    with get_client(sync_client=True) as client:
        pre = client.read_deployment_by_name("pretrain/gpu")
        ft = client.read_deployment_by_name("finetune/gpu")
    assert pre.work_pool_name == ft.work_pool_name == pool
    assert pre.entrypoint == "corpusforge.flows.train.pretrain_flow"
    assert ft.entrypoint == "corpusforge.flows.train.finetune_flow"
    assert pre.job_variables == {"image": "registry.example/corpusforge-cuda:1"}
    # The parameter schema offers the multi-node launcher.
    schema = json.dumps(pre.parameter_openapi_schema)
    assert "PyTorchJobSettings" in schema and "rdzv_port" in schema


def test_pytorchjob_is_valid_for_the_operator_and_rendezvous_is_configured():
    settings = PyTorchJobSettings(nodes=4, gpus_per_node=8, image="registry.example/cf-cuda:1")
    name = job_name("nightly-pretrain-c0123456789", "pretrain")
    assert len(name) <= 40 and name.startswith("cf-pretrain-")
    manifest = pytorchjob_manifest(
        name, "corpusforge.model.pretrain", "/workspace/runs/pretrain/x/config.json", settings
    )
    validate_manifest(manifest)  # KubeflowOrgV1PyTorchJob and every type inside it
    replicas = manifest["spec"]["pytorchReplicaSpecs"]
    assert replicas["Master"]["replicas"] == 1 and replicas["Worker"]["replicas"] == 3
    for spec in replicas.values():
        (c,) = spec["template"]["spec"]["containers"]
        assert c["name"] == "pytorch" and c["image"] == "registry.example/cf-cuda:1"
        assert "--nnodes=4" in c["command"] and "--nproc-per-node=8" in c["command"]
        assert "--rdzv-backend=c10d" in c["command"]
        assert f"--rdzv-endpoint={name}-master-0:29400" in c["command"]
        (port,) = c["ports"]
        assert port == {"name": "pytorchjob-port", "containerPort": 29400, "protocol": "TCP"}
        assert c["resources"]["limits"]["nvidia.com/gpu"] == "8"
    single = pytorchjob_manifest(
        name, "corpusforge.model.sft", "/workspace/c.json", settings.model_copy(update={"nodes": 1})
    )
    assert list(single["spec"]["pytorchReplicaSpecs"]) == ["Master"]

    # The schema is strict: a misspelt field, a wrong type, a missing required field.
    typo = json.loads(json.dumps(manifest))
    typo["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0][
        "imagePullPolcy"
    ] = "Always"
    with pytest.raises(ConfigError, match="imagePullPolcy"):
        validate_manifest(typo)
    wrong = json.loads(json.dumps(manifest))
    wrong["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = "three"
    with pytest.raises(ConfigError, match="replicas"):
        validate_manifest(wrong)
    nameless = json.loads(json.dumps(manifest))
    del nameless["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0][
        "name"
    ]
    with pytest.raises(ConfigError, match="'name' is a required property"):
        validate_manifest(nameless)
    with pytest.raises(ConfigError, match="not on the shared workspace volume"):
        pytorchjob_manifest(name, "m", "/tmp/config.json", settings)


def test_training_flow_parameters_take_the_multinode_launcher():
    from corpusforge.flows.train import PretrainParams

    params = PretrainParams.model_validate(
        {"config": {"data": "/workspace/tokens"}, "pytorchjob": {"nodes": 2, "gpus_per_node": 4}}
    )
    assert params.pytorchjob is not None and params.pytorchjob.nodes == 2
    with pytest.raises(ValueError, match="nodez"):
        PretrainParams.model_validate(
            {"config": {"data": "/workspace/tokens"}, "pytorchjob": {"nodez": 2}}
        )
