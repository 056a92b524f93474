"""Multi-node training on Kubernetes: a Kubeflow Training Operator `PyTorchJob` per training run.

The Prefect training flow (flows/train.py) runs in a small pod of the Kubernetes work pool
(infra/k8s/train-job-template.json); with `pytorchjob` settings it does not start torchrun itself
but creates a PyTorchJob of `nodes` pods (one Master, nodes-1 Workers) with `gpus_per_node` GPUs
each, all from the CUDA image (infra/Dockerfile.cuda). Every pod runs

    torchrun --nnodes N --nproc-per-node G --rdzv-backend c10d \
             --rdzv-endpoint <job>-master-0:<port> --rdzv-id <job> -m corpusforge.model.pretrain ...

The operator gives the Master replica a headless Service named `<job>-master-0` that exposes the
container port named `pytorchjob-port`, which is the c10d rendezvous port here, so every node
(the master included) joins one rendezvous by a stable DNS name; no node needs to know its rank.
The job's config JSON is written to the shared workspace volume, which every pod mounts at the
same path as the flow's pod. The flow streams the Master's log into the flow run, waits for the
job's Succeeded/Failed condition, and fails with the job's own error line.

Manifests are checked before submission against the schema of the operator's API types as the
`kubeflow-training` SDK (and, for the pod template, the `kubernetes` client) define them:
unknown or misspelt fields, wrong types and missing required fields fail with one line.
"""

from __future__ import annotations

import copy
import inspect
import re
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import Field

from corpusforge.core.errors import ConfigError, CorpusforgeError
from corpusforge.core.settings import StrictModel

GROUP, VERSION, PLURAL = "kubeflow.org", "v1", "pytorchjobs"
RDZV_PORT_NAME = "pytorchjob-port"  # the port the operator's Services expose
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class PyTorchJobSettings(StrictModel):
    """Where and how big the multi-node job is (deployment parameters or job variables)."""

    namespace: str = Field("corpusforge", pattern=_NAME.pattern)
    image: str = Field("corpusforge-cuda:latest", description="built from infra/Dockerfile.cuda")
    nodes: int = Field(2, ge=1, description="pods (one torchrun each): 1 Master + nodes-1 Workers")
    gpus_per_node: int = Field(8, ge=1, description="nvidia.com/gpu per pod = processes per node")
    cpu: str = "32"
    memory: str = "480Gi"
    shm_size: str = "16Gi"
    workspace_pvc: str = Field("corpusforge-workspace", description="ReadWriteMany claim")
    workspace_mount: str = Field("/workspace", description="where the flow's pod mounts it too")
    store_token_secret: str = Field("corpusforge-trainer-token", description="Secret, key `token`")
    service_account: str | None = None
    node_selector: dict[str, str] = Field(
        default_factory=lambda: {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    )
    rdzv_port: int = Field(29400, ge=1, le=65535)
    max_restarts: int = Field(0, ge=0, description="pod restarts on failure (backoffLimit)")
    poll_seconds: float = Field(15.0, gt=0)
    timeout_seconds: int | None = Field(None, ge=1, description="activeDeadlineSeconds")


class PyTorchJobFailed(CorpusforgeError):
    """The PyTorchJob ended in the Failed condition (or could not be created)."""


def job_name(run_name: str, kind: str) -> str:
    """A DNS-1035 name (the operator derives Service names from it, so at most 40 chars)."""
    base = re.sub(r"[^a-z0-9-]+", "-", f"cf-{kind}-{run_name}".lower()).strip("-")
    return base[:40].rstrip("-")


def torchrun_command(name: str, module: str, config_path: str, s: PyTorchJobSettings) -> list[str]:
    return [
        "python", "-m", "torch.distributed.run",
        f"--nnodes={s.nodes}",
        f"--nproc-per-node={s.gpus_per_node}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={name}-master-0:{s.rdzv_port}",
        f"--rdzv-id={name}",
        "--max-restarts=0",
        "-m", module, "--config", config_path,
    ]  # fmt: skip


def pytorchjob_manifest(
    name: str, module: str, config_path: str, s: PyTorchJobSettings
) -> dict[str, Any]:
    """The PyTorchJob that runs `module` on `s.nodes` nodes (see the module doc)."""
    if not _NAME.match(name):
        raise ConfigError(f"PyTorchJob name {name!r} is not a DNS-1035 label")
    if not config_path.startswith(s.workspace_mount.rstrip("/") + "/"):
        raise ConfigError(
            f"the job config {config_path} is not on the shared workspace volume "
            f"({s.workspace_mount}), so the training pods could not read it"
        )
    container = {
        "name": "pytorch",  # the operator looks for the container of this name
        "image": s.image,
        "imagePullPolicy": "IfNotPresent",
        "command": torchrun_command(name, module, config_path, s),
        "ports": [{"name": RDZV_PORT_NAME, "containerPort": s.rdzv_port, "protocol": "TCP"}],
        "env": [
            {"name": "CORPUSFORGE_WORKSPACE", "value": s.workspace_mount},
            {
                "name": "CORPUSFORGE_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": s.store_token_secret, "key": "token"}},
            },
            {"name": "NCCL_DEBUG", "value": "WARN"},
            {"name": "TORCH_NCCL_ASYNC_ERROR_HANDLING", "value": "1"},
            {"name": "HF_HUB_OFFLINE", "value": "1"},
        ],
        "resources": {
            "requests": {"cpu": s.cpu, "memory": s.memory, "nvidia.com/gpu": str(s.gpus_per_node)},
            "limits": {"memory": s.memory, "nvidia.com/gpu": str(s.gpus_per_node)},
        },
        "volumeMounts": [
            {"name": "workspace", "mountPath": s.workspace_mount},
            {"name": "dshm", "mountPath": "/dev/shm"},
        ],
    }
    pod_spec: dict[str, Any] = {
        "containers": [container],
        "nodeSelector": dict(s.node_selector),
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "volumes": [
            {"name": "workspace", "persistentVolumeClaim": {"claimName": s.workspace_pvc}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": s.shm_size}},
        ],
    }
    if s.service_account:
        pod_spec["serviceAccountName"] = s.service_account
    labels = {"app": "corpusforge-train", "corpusforge/run": name}

    def replica(count: int) -> dict[str, Any]:
        return {
            "replicas": count,
            "restartPolicy": "OnFailure" if s.max_restarts else "Never",
            "template": {"metadata": {"labels": dict(labels)}, "spec": copy.deepcopy(pod_spec)},
        }

    replicas = {"Master": replica(1)}
    if s.nodes > 1:
        replicas["Worker"] = replica(s.nodes - 1)
    run_policy: dict[str, Any] = {"cleanPodPolicy": "None", "backoffLimit": s.max_restarts}
    if s.timeout_seconds:
        run_policy["activeDeadlineSeconds"] = s.timeout_seconds
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PyTorchJob",
        "metadata": {"name": name, "namespace": s.namespace, "labels": labels},
        "spec": {
            "nprocPerNode": str(s.gpus_per_node),
            "runPolicy": run_policy,
            "pytorchReplicaSpecs": replicas,
        },
    }


# ---- schema of the operator's API types ---------------------------------------------------------
# Derived from the OpenAPI-generated model classes of the `kubeflow-training` SDK (the operator's
# own swagger) and the `kubernetes` client, not vendored: each class lists its fields' JSON names
# and types, and its setters refuse None for required fields.

# Kubernetes quantities are int-or-string in the API (the clients type them as str).
_QUANTITY = {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "number"}]}
_PRIMITIVES = {
    "Quantity": _QUANTITY,
    "IntOrString": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "object": {},
    "datetime": {"type": "string"},
    "date": {"type": "string"},
}
_QUANTITY_FIELDS = {
    ("V1ResourceRequirements", "limits"),
    ("V1ResourceRequirements", "requests"),
    ("V1EmptyDirVolumeSource", "size_limit"),
}


_UPSTREAM = r"^K8sIo(?:Api|Apimachinery)[A-Za-z]*?(V\d+(?:(?:alpha|beta)\d+)?[A-Z]\w*)$"


def _model_class(name: str) -> type:
    # The SDK names upstream Kubernetes types by their Go package (K8sIoApiAutoscalingV2MetricSpec);
    # the kubernetes client by version + kind (V2MetricSpec).
    upstream = re.match(_UPSTREAM, name)
    if upstream:
        name = upstream.group(1)
    for mod in _model_modules():
        if hasattr(mod, name):
            return getattr(mod, name)
    raise ConfigError(f"no Kubernetes API model named {name}")


def _model_modules() -> tuple[Any, Any]:
    """The API model modules of the operator's SDK and of the Kubernetes client (fixed names,
    imported statically; the type names looked up in them come from their own metadata)."""
    try:
        import kubeflow.training.models as training_models
        import kubernetes.client.models as client_models
    except ImportError as exc:
        raise ConfigError(
            "the Kubernetes training path needs the k8s extra: "
            "pip install 'corpusforge[k8s]' (kubeflow-training, kubernetes)"
        ) from exc
    return training_models, client_models


def _required(cls: type, attr: str) -> bool:
    setter = getattr(cls, attr).fset
    return setter is not None and "must not be `None`" in inspect.getsource(setter)


@cache
def api_schema(root: str = "KubeflowOrgV1PyTorchJob") -> dict[str, Any]:
    """JSON Schema of an API type and everything it contains (`$defs` by class name)."""
    defs: dict[str, Any] = {}

    def ref(type_name: str) -> dict[str, Any]:
        if type_name in _PRIMITIVES:
            return _PRIMITIVES[type_name]
        if type_name.startswith("list["):
            return {"type": "array", "items": ref(type_name[5:-1])}
        if type_name.startswith("dict("):
            value = type_name[5:-1].split(",", 1)[1].strip()
            return {"type": "object", "additionalProperties": ref(value)}
        if type_name not in defs:
            defs[type_name] = {}  # placeholder: breaks recursion
            cls = _model_class(type_name)
            props, required = {}, []
            for attr, sub in cls.openapi_types.items():
                key = cls.attribute_map[attr]
                props[key] = _field_schema(type_name, attr, sub, ref)
                if _required(cls, attr):
                    required.append(key)
            defs[type_name] = {
                "type": "object",
                "properties": props,
                "additionalProperties": False,
                **({"required": required} if required else {}),
            }
        return {"$ref": f"#/$defs/{type_name}"}

    top = ref(root)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **top, "$defs": defs}


def _field_schema(owner: str, attr: str, sub: str, ref: Callable) -> dict[str, Any]:
    if (owner, attr) not in _QUANTITY_FIELDS:
        return ref(sub)
    if sub.startswith("dict("):
        return {"type": "object", "additionalProperties": _QUANTITY}
    return _QUANTITY


def validate_manifest(manifest: dict[str, Any], root: str = "KubeflowOrgV1PyTorchJob") -> None:
    """Raise ConfigError naming the first field of `manifest` the API type does not accept."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(api_schema(root))
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ConfigError(f"{root} manifest: {where}: {err.message}")


# ---- launching ----------------------------------------------------------------------------------


def _load_kube_config() -> None:
    from kubernetes import config

    try:
        config.load_incluster_config()  # the flow's pod on the work pool
    except config.ConfigException:
        config.load_kube_config()  # a workstation with ~/.kube/config


def run_pytorchjob(
    manifest: dict[str, Any],
    log_path: Path,
    emit: Callable[[str], None],
    poll_seconds: float = 15.0,
) -> list[str]:
    """Create the job, stream the Master's log, wait for it to end; return the log's tail.

    Raises PyTorchJobFailed with the operator's message when the job fails."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    validate_manifest(manifest)
    _load_kube_config()
    crd, core = client.CustomObjectsApi(), client.CoreV1Api()
    name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
    try:
        crd.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest)
    except ApiException as exc:
        if exc.status != 409:  # 409: a rerun of the same run resumes by attaching to it
            raise PyTorchJobFailed(
                f"PyTorchJob {namespace}/{name}: {exc.status} {exc.reason}"
            ) from None
        emit(f"PyTorchJob {namespace}/{name} exists already: following it")
    selector = f"training.kubeflow.org/job-name={name},training.kubeflow.org/replica-type=master"
    tail: list[str] = []
    streamed = False
    with open(log_path, "a", encoding="utf-8") as log:
        while True:
            job = crd.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            state = _terminal_condition(job)
            if not streamed:
                pods = core.list_namespaced_pod(namespace, label_selector=selector).items
                if pods and pods[0].status.phase in ("Running", "Succeeded", "Failed"):
                    stream = core.read_namespaced_pod_log(
                        pods[0].metadata.name,
                        namespace,
                        container="pytorch",
                        follow=True,
                        _preload_content=False,
                    )
                    for raw in stream:
                        line = raw.decode("utf-8", "replace").rstrip()
                        log.write(line + "\n")
                        if line:
                            emit(line)
                            tail = (tail + [line])[-400:]
                    streamed = True
                    continue
            if state is not None:
                kind, message = state
                if kind == "Failed":
                    raise PyTorchJobFailed(message or f"PyTorchJob {namespace}/{name} failed")
                return tail
            time.sleep(poll_seconds)


def _terminal_condition(job: dict[str, Any]) -> tuple[str, str] | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Succeeded", "Failed") and cond.get("status") == "True":
            return cond["type"], cond.get("message", "")
    return None
