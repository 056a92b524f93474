"""infra/: the compose file and the stack's pipeline config, checked as far as this machine can."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from flows.pipeline_config import load_config

INFRA = Path(__file__).resolve().parents[1] / "infra"


def _compose() -> dict:
    return yaml.safe_load((INFRA / "docker-compose.yml").read_text())


def test_compose_declares_postgres_server_worker_and_deployments():
    compose = _compose()
    services = compose["services"]
    assert {"postgres", "prefect-server", "worker", "deployments"} <= set(services)
    server_env = services["prefect-server"]["environment"]
    assert server_env["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")
    assert services["prefect-server"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("worker", "deployments"):
        svc = services[name]
        assert svc["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
        assert "/workspace" in " ".join(svc["volumes"])
    worker_cmd = services["worker"]["command"]
    pool = worker_cmd[worker_cmd.index("--pool") + 1]
    deploy_cmd = services["deployments"]["command"]
    assert deploy_cmd[:2] == ["corpusforge", "serve"]
    assert deploy_cmd[deploy_cmd.index("--work-pool") + 1] == pool
    assert set(compose["volumes"]) >= {"postgres", "workspace", "drop"}


def test_files_the_compose_file_mounts_and_builds_exist():
    compose = _compose()
    for svc in compose["services"].values():
        for volume in svc.get("volumes", []):
            src = volume.split(":")[0]
            if src.startswith("./"):
                assert (INFRA / src).exists(), src
        if "build" in svc:
            assert (INFRA / svc["build"]["context"] / svc["build"]["dockerfile"]).exists()


def test_stack_pipeline_config_validates():
    cfg = load_config(INFRA / "pipeline.yaml")
    assert cfg.inputs == ["/drop"] and cfg.output_root() == Path("/workspace/runs/pipeline")


def test_docker_compose_config_parses_when_the_client_can():
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("docker client has no compose plugin here")
    done = subprocess.run(
        [docker, "compose", "-f", str(INFRA / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
