"""Shared test set-up: an isolated workspace and Prefect home, the real-format fixtures,
and one session-scoped Prefect test harness (its API server costs seconds to start)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Before anything imports Prefect: keep the suite out of ~/.prefect and offline.
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="corpusforge-tests-"))
os.environ["CORPUSFORGE_WORKSPACE"] = str(_SESSION_DIR / "workspace")
os.environ["PREFECT_HOME"] = str(_SESSION_DIR / "prefect")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# CLI subprocesses without PREFECT_API_URL start their workspace's background Prefect server
# (corpusforge.flows.server); in a test workspace it need not outlive the test by long.
os.environ.setdefault("CORPUSFORGE_SERVER_IDLE_S", "20")
os.environ.pop("CORPUSFORGE_AUDIT_URL", None)
os.environ.pop("CORPUSFORGE_AUDIT_KEY", None)  # each test workspace keys its own log

from corpusforge.core.workspace import configure_offline_environment  # noqa: E402

configure_offline_environment()

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES_DIR = Path(
    os.environ.get("CORPUSFORGE_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures")
)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The real-world sample files in ../shared/fixtures (not part of the project)."""
    if not FIXTURES_DIR.is_dir():
        pytest.skip(
            f"real-format fixtures not found at {FIXTURES_DIR} (they live in ../shared/fixtures "
            "beside the checkout; set CORPUSFORGE_FIXTURES to point elsewhere)"
        )
    return FIXTURES_DIR


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect API server + database for every flow test in the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A fresh workspace (audit log, store, runs) for one test."""
    from corpusforge.core.workspace import Workspace

    root = tmp_path / "ws"
    monkeypatch.setenv("CORPUSFORGE_WORKSPACE", str(root))
    ws = Workspace.resolve(root)
    for d in (ws.root, ws.runs_dir):
        d.mkdir(parents=True, exist_ok=True)
    return ws


@pytest.fixture(scope="session")
def pii_benchmark_texts():
    """`texts(n, seed)`: the texts of benchmarks/pii_data.py's labeled documents. benchmarks/ is
    not a package on the test path (its tokenize.py would shadow the standard module), so the
    generator is loaded by file, once."""
    import importlib.util
    import sys

    path = REPO_ROOT / "benchmarks" / "pii_data.py"
    spec = importlib.util.spec_from_file_location("pii_benchmark_data", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return lambda n, seed: [d["text"] for d in module.generate(n, seed=seed)]


@pytest.fixture(scope="session")
def moto_s3():
    """`make(bucket) -> endpoint URL`: a real S3 HTTP endpoint on localhost (moto's server),
    one per session, with a bucket made on request."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{server._server.server_port}"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    made: set[str] = set()

    def make(bucket: str) -> str:
        if bucket not in made:
            client.create_bucket(Bucket=bucket)
            made.add(bucket)
        return url

    yield make
    server.stop()


@pytest.fixture
def s3_env(moto_s3, monkeypatch):
    """`connect(bucket, key_id, secret) -> boto3 client`: the AWS environment a user sets for an
    S3-compatible endpoint (endpoint URL, credentials, region), pointing at moto's server."""
    import logging

    import boto3

    def connect(bucket: str, key_id: str, secret: str):
        endpoint = moto_s3(bucket)
        # the in-process server's request log would go to whatever handler is current
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": key_id,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")

    return connect
