"""Scale-out: the data stages on a two-worker Dask LocalCluster give the default runner's output."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from corpusforge.pipeline.documents import read_table
from corpusforge.pipeline.manifest import read_manifest

STAGES = ["ingest", "dedup", "pii", "tokenize"]


def _run(tmp_path: Path, sample: Path, name: str, runner: str | None, monkeypatch):
    from corpusforge.flows.pipeline import PipelineConfig, run_pipeline

    monkeypatch.setenv("CORPUSFORGE_WORKSPACE", str(tmp_path / f"ws-{name}"))
    cfg = PipelineConfig(
        name=name,
        inputs=[str(sample / d) for d in ("web", "books", "wiki")],
        output=str(tmp_path / name),
        stages=STAGES,
        task_runner=runner,
        pii={"mode": "fast"},
        tokenize={"vocab_size": 512},
    )
    result = run_pipeline(cfg)
    assert [r["status"] for r in result["stages"].values()] == ["ran"] * len(STAGES)
    return tmp_path / name


def _documents(out: Path, stage: str) -> list[tuple]:
    table = read_table(out / stage, columns=["id", "text", "source"])
    return sorted(zip(*(table[c].to_pylist() for c in table.column_names), strict=True))


def _token_files(out: Path) -> dict[str, str]:
    tokens = out / "tokens"
    return {
        str(p.relative_to(tokens)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(tokens.rglob("*"))
        if p.is_file()
        and p.suffix in (".bin", ".json", ".npy", ".idx")
        and "manifest" not in p.name
        and not p.name.startswith("_")
    }


@pytest.mark.slow
def test_data_stages_on_dask_match_the_default_runner(prefect_harness, tmp_path, monkeypatch):
    from distributed import LocalCluster
    from prefect.settings import PREFECT_API_URL

    from corpusforge.demo import write_sample

    # Dask worker processes report task runs to the same API as this process.
    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    sample = tmp_path / "sample"
    write_sample(sample, seed=0)
    local = _run(tmp_path, sample, "local", "threads", monkeypatch)
    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address.replace("tcp://", "dask://", 1)
        dask = _run(tmp_path, sample, "dask", address, monkeypatch)
        workers_used = len(cluster.scheduler_info["workers"])
    assert workers_used == 2
    for stage in ("documents", "dedup", "pii"):
        assert _documents(dask, stage) == _documents(local, stage), stage
    tok_local, tok_dask = read_manifest(local / "tokens"), read_manifest(dask / "tokens")
    assert [o["sha256"] for o in tok_dask["outputs"]] == [o["sha256"] for o in tok_local["outputs"]]
    assert _token_files(dask) == _token_files(local)


def test_relative_paths_reach_dask_workers_and_an_unseen_path_is_one_line(
    prefect_harness, tmp_path, monkeypatch
):
    """The workers run in another working directory: relative paths given to the client are
    made absolute before tasks are submitted; a path that exists only on the client fails
    before any task with one line naming the worker and the path."""
    import os

    from distributed import LocalCluster
    from prefect.settings import PREFECT_API_URL

    from corpusforge.core.errors import InputError
    from corpusforge.demo import write_sample
    from corpusforge.flows.ingest import IngestParams, run_ingest

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    monkeypatch.setenv("CORPUSFORGE_WORKSPACE", str(tmp_path / "ws"))
    elsewhere = tmp_path / "workers-cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the workers start here ...
    with LocalCluster(
        n_workers=1, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address.replace("tcp://", "dask://", 1)
        client_dir = tmp_path / "client-cwd"
        write_sample(client_dir / "sample", seed=0)
        monkeypatch.chdir(client_dir)  # ... and the client runs here, with relative paths
        params = IngestParams(inputs=["sample/web"], output="out/docs", task_runner=address)
        assert params.inputs == [str(client_dir / "sample" / "web")]
        manifest = run_ingest(params)
        assert manifest["counts"]["out"] > 0 and manifest["counts"]["rejected"] == 0
        assert (client_dir / "out" / "docs" / "manifest.json").is_file()

        # A file only the client can see: an open descriptor of this process under /proc/self.
        with open(client_dir / "sample" / "web" / "crawl-00000.warc.gz", "rb") as f:
            fd = os.dup2(f.fileno(), 900)
            try:
                private = f"/proc/self/fd/{fd}"
                assert os.path.exists(private)
                with pytest.raises(InputError, match=r"^Dask worker tcp://\S+ cannot see ") as e:
                    run_ingest(IngestParams(inputs=[private], output="out/x", task_runner=address))
                assert private in str(e.value) and "\n" not in str(e.value)
            finally:
                os.close(fd)
