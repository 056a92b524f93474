"""infra/: the compose file and the stack's pipeline config, checked as far as this machine can."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import compose_spec
import pytest
import yaml

from corpusforge.flows.pipeline_config import load_config

INFRA = Path(__file__).resolve().parents[1] / "infra"


def _compose() -> dict:
    return yaml.safe_load((INFRA / "docker-compose.yml").read_text())


# Innermost `${VAR}`, `${VAR-default}` or `${VAR:-default}`: resolved repeatedly, so nested
# defaults work inside out, as `docker compose` interpolates before it validates.
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^${}]*))?\}")


def _interpolate(text: str, env: dict[str, str]) -> str:
    def value(m: re.Match) -> str:
        name, op, default = m.groups()
        if op == ":-":
            return env.get(name) or default
        if op == "-":
            return env.get(name, default)
        if op == ":?":
            if not env.get(name):
                raise ValueError(f"required variable {name} is not set: {default}")
            return env[name]
        return env.get(name, "")

    text = text.replace("$$", "\0")  # `$$` is a literal dollar, never a variable
    while (resolved := _VARIABLE.sub(value, text)) != text:
        text = resolved
    return text.replace("\0", "$")


def _validate_compose_spec(text: str, env: dict[str, str]) -> list[str]:
    """Parse and validate against the Compose Specification; returns the service names."""
    compose = compose_spec.PyOptions(apply_merge=True).from_yaml(_interpolate(text, env))
    compose.validate()
    return compose.service_names()


def test_compose_file_is_valid_compose_spec_with_defaults_and_overrides():
    text = (INFRA / "docker-compose.yml").read_text()
    services = _validate_compose_spec(text, {})
    assert {"postgres", "prefect-server"} <= set(services)
    overrides = {"CORPUSFORGE_IMAGE": "registry.example/corpusforge:1.2", "POSTGRES_PASSWORD": "x"}
    assert _validate_compose_spec(text, overrides) == services


def test_compose_validation_rejects_a_broken_file():
    """The validator is real: a misspelt service key and a bad port mapping both fail."""
    text = (INFRA / "docker-compose.yml").read_text()
    with pytest.raises(ValueError):
        _validate_compose_spec(text.replace("depends_on:", "depends_onn:", 1), {})
    with pytest.raises(ValueError):
        _validate_compose_spec(text.replace(':4200:4200"', ':4200:http"'), {})


def _server_ports(env: dict[str, str]) -> list[str]:
    text = _interpolate((INFRA / "docker-compose.yml").read_text(), env)
    return yaml.safe_load(text)["services"]["prefect-server"]["ports"]


def test_prefect_api_is_published_on_loopback_only_by_default():
    """Whoever reaches the API can start flow runs: by default only this host can."""
    assert _server_ports({}) == ["127.0.0.1:4200:4200"]
    assert _server_ports({"PREFECT_BIND": "0.0.0.0"}) == ["0.0.0.0:4200:4200"]


def test_auth_override_requires_a_secret_and_sets_server_and_clients():
    text = (INFRA / "docker-compose.auth.yml").read_text()
    with pytest.raises(ValueError, match="PREFECT_AUTH_STRING"):
        _interpolate(text, {})
    merged = yaml.safe_load(_interpolate(text, {"PREFECT_AUTH_STRING": "admin:pw"}))
    services = merged["services"]
    assert services["prefect-server"]["environment"]["PREFECT_SERVER_API_AUTH_STRING"] == "admin:pw"
    for client in ("deployments", "worker"):
        assert services[client]["environment"]["PREFECT_API_AUTH_STRING"] == "admin:pw"
    base = set(_compose()["services"])
    assert set(services) <= base  # the override only adds settings to existing services


def test_interpolation_follows_compose_rules():
    env = {"SET": "v", "EMPTY": ""}
    assert _interpolate("${SET}-${UNSET:-d}-${EMPTY:-d}-${EMPTY-d}-$$x", env) == "v-d-d--$x"
    assert _interpolate("${A:-a${SET:-no}b}", env) == "avb"


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


def _dockerfile(name: str):
    import io

    from dockerfile_parse import DockerfileParser

    # fileobj: the parser takes a path not named "Dockerfile" for a directory
    return DockerfileParser(fileobj=io.BytesIO((INFRA / name).read_bytes()))


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfiles_copy_what_exists(name):
    parser = _dockerfile(name)
    steps = [s["instruction"] for s in parser.structure if s["instruction"] != "COMMENT"]
    assert steps[0] in ("ARG", "FROM") and "FROM" in steps
    for step in parser.structure:
        if step["instruction"] == "COPY":
            *sources, _dest = step["value"].split()
            for src in sources:
                assert (INFRA.parent / src).exists(), f"{name}: COPY {src}"


def test_cuda_image_installs_cuda_torch_of_the_pinned_version_and_the_k8s_extra():
    import json

    from corpusforge.flows.k8s_training import PyTorchJobSettings

    parser = _dockerfile("Dockerfile.cuda")
    args = {}
    for step in parser.structure:
        if step["instruction"] == "ARG" and "=" in step["value"]:
            key, value = step["value"].split("=", 1)
            args[key] = value
    pinned = re.search(r"torch==([\d.]+)", (INFRA.parent / "Makefile").read_text()).group(1)
    assert args["TORCH_VERSION"] == pinned
    assert re.fullmatch(r"cu\d{3}", args["TORCH_CUDA"])
    runs = [s["value"] for s in parser.structure if s["instruction"] == "RUN"]
    assert any("download.pytorch.org/whl/${TORCH_CUDA}" in r and "torch==" in r for r in runs)
    assert any('".[k8s]"' in r and "torch.version.cuda" in r for r in runs)
    # The GPU pool's template and the multi-node launcher default to this image.
    template = json.loads((INFRA / "k8s" / "train-job-template.json").read_text())
    image = template["variables"]["properties"]["image"]["default"]
    assert image.startswith("corpusforge-cuda") and PyTorchJobSettings().image == image
