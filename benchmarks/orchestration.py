"""What Prefect adds to the data stages: the corpus-to-model flow against a plain script.

Both sides run ingest -> dedup -> PII -> tokenize on the same sample corpus, with fresh caches: the
plain side calls the `pipeline/` functions directly (`ingest_file` + `assemble`, the dedup job on
`run_local`, `scrub_shard` + `assemble`, the tokenize job's own steps); the flow side runs
`corpusforge.flows.pipeline.run_pipeline`, whose tasks map over files and shards. Sizes: the
demo corpus (`write_sample(scale=1)`) and one 100x larger. Prints wall time of each side, the
flow/plain ratio, and the number of task runs.

    .venv/bin/python benchmarks/orchestration.py            # scale 1 and 100
    .venv/bin/python benchmarks/orchestration.py --quick    # scale 1 and 10
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

STAGES = ["ingest", "dedup", "pii", "tokenize"]


def plain(sample: Path, out: Path, pii_cfg, tok_cfg) -> dict[str, float]:
    """Seconds per stage (and "total") of the plain script: the same per-file and per-shard
    `pipeline/` functions the flow's tasks call (dedup: `dedup_job` on `run_local`), on one pool of
    forked worker processes as many as the flow uses (forked workers start with everything
    imported)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from corpusforge.pipeline.dedup.stage import dedup_job
    from corpusforge.pipeline.documents import list_shards
    from corpusforge.pipeline.ingest import stage as ingest_stage
    from corpusforge.pipeline.ingest.config import IngestConfig
    from corpusforge.pipeline.pii import stage as pii_stage
    from corpusforge.pipeline.stage import run_local
    from corpusforge.pipeline.tokenize import stage as tok_stage

    workers = os.cpu_count() or 1
    cache = out / "cache"

    def ingest(pool):
        files = ingest_stage.expand_inputs([sample / d for d in ("web", "books", "wiki")])
        cfg = IngestConfig()
        results = list(pool.map(ingest_stage.ingest_file, files, *_same(files, cache / "i", cfg)))
        ingest_stage.assemble(results, cache / "i", out / "documents", cfg, files, overwrite=True)

    def pii(pool):
        shards = [str(s) for s in list_shards(out / "dedup")]
        results = list(
            pool.map(pii_stage.scrub_shard, shards, *_same(shards, cache / "p", pii_cfg))
        )
        pii_stage.assemble(results, cache / "p", out / "pii", pii_cfg, overwrite=True)

    def tokenize(pool):
        # tokenize_job's own steps, with encoding on the same forked pool (its own spawned
        # processes would import the tokenizers first: a weaker baseline)
        shards = tok_stage.plan_inputs(out / "pii")
        tokens, cached = out / "tokens", cache / "t"
        tokens.mkdir(parents=True, exist_ok=True)
        tokenizer = tok_stage.prepare_tokenizer(shards, tokens, tok_cfg, cached)
        plan, mixture = tok_stage.make_plan(shards, tokens, tok_cfg, tokenizer)
        names = [str(s) for s in shards]
        chunks = list(
            pool.map(tok_stage.encode_or_reject, names, *_same(names, str(cached / "chunks"), plan))
        )
        tok_stage.assemble(chunks, tokens, tok_cfg, tokenizer, mixture)

    steps = {
        "ingest": ingest,
        "dedup": lambda pool: run_local(
            dedup_job(out / "documents", out / "dedup", overwrite=True), workers=workers
        ),
        "pii": pii,
        "tokenize": tokenize,
    }
    seconds = {}
    fork = multiprocessing.get_context("fork")  # workers forked before any tokenizers thread
    with ProcessPoolExecutor(workers, mp_context=fork, initializer=_one_thread) as pool:
        for name, step in steps.items():
            t0 = time.perf_counter()
            step(pool)
            seconds[name] = time.perf_counter() - t0
    seconds["total"] = sum(seconds.values())
    return seconds


def _one_thread() -> None:
    """As the flow's workers: one encoding thread each, the processes are the parallelism."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


def _server_cpu() -> float:
    """CPU seconds used so far by this process's local Prefect API server (the test harness's
    uvicorn child; Linux /proc): on one machine its work competes with the stages'."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and b"uvicorn" in cmdline:  # fields[1]: parent pid
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _same(items: list, *values) -> list[list]:
    """`pool.map` arguments: each value repeated once per item."""
    return [[v] * len(items) for v in values]


def flow(sample: Path, out: Path, runner: str, pii_cfg, tok_cfg) -> tuple[dict[str, float], int]:
    """Seconds per stage (as the flow measured each subflow, and "total") and task runs."""
    from datetime import UTC, datetime

    from prefect.client.orchestration import get_client

    from corpusforge.flows.pipeline import PipelineConfig, run_pipeline

    cfg = PipelineConfig(
        name=f"bench-{out.name}",
        inputs=[str(sample / d) for d in ("web", "books", "wiki")],
        output=str(out),
        stages=STAGES,
        task_runner=runner,
        pii=pii_cfg,
        tokenize=tok_cfg,
    )
    started = datetime.now(UTC).isoformat()
    t0 = time.perf_counter()
    result = run_pipeline(cfg)
    seconds = time.perf_counter() - t0
    assert all(r["status"] == "ran" for r in result["stages"].values())
    # Every task run created since this flow started (subflow runs count as one task each).
    with get_client(sync_client=True) as client:
        body = {"task_runs": {"expected_start_time": {"after_": started}}}
        tasks = client._client.post("/task_runs/count", json=body).json()
    stages = {name: result["stages"][name]["seconds"] for name in STAGES}
    return {**stages, "total": seconds}, tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="scales 1 and 10 instead of 1, 100")
    parser.add_argument("--scales", type=int, nargs="*", help="sample scales to measure")
    parser.add_argument(
        "--runner",
        default="processes",
        help="flow task runner: processes (the default: warm local worker processes) or threads",
    )
    args = parser.parse_args()
    scales = args.scales or ([1, 10] if args.quick else [1, 100])

    root = Path(tempfile.mkdtemp(prefix="corpusforge-bench-orch-"))
    os.environ["CORPUSFORGE_WORKSPACE"] = str(root / "ws")
    from corpusforge.core.workspace import Workspace

    Workspace.resolve().activate()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect.testing.utilities import prefect_test_harness

    from corpusforge.demo import write_sample
    from corpusforge.pipeline.pii.config import PiiConfig
    from corpusforge.pipeline.tokenize.config import TokenizeConfig

    pii_cfg, tok_cfg = PiiConfig(mode="fast"), TokenizeConfig(vocab_size=2048)
    rows = []
    with prefect_test_harness(server_startup_timeout=180):
        for scale in scales:
            sample = root / f"sample-{scale}"
            info = write_sample(sample, seed=0, scale=scale)
            docs = sum(info["document_counts"].values())
            # Fresh workspace caches per side, so neither reuses the other's work.
            os.environ["CORPUSFORGE_WORKSPACE"] = str(root / f"ws-plain-{scale}")
            cpu0 = _server_cpu()
            s_plain = plain(sample, root / f"plain-{scale}", pii_cfg, tok_cfg)
            os.environ["CORPUSFORGE_WORKSPACE"] = str(root / f"ws-flow-{scale}")
            cpu1 = _server_cpu()
            s_flow, tasks = flow(sample, root / f"flow-{scale}", args.runner, pii_cfg, tok_cfg)
            cpu2 = _server_cpu()
            t_plain, t_flow = s_plain["total"], s_flow["total"]
            rows.append((scale, docs, t_plain, t_flow, tasks))
            print(
                f"scale {scale:>4}: {docs:>6} docs  plain {t_plain:7.1f} s  "
                f"flow {t_flow:7.1f} s  flow/plain {t_flow / t_plain:5.2f}  tasks {tasks}",
                flush=True,
            )
            per_stage = "  ".join(f"{n} {s_plain[n]:.1f}/{s_flow[n]:.1f}" for n in STAGES)
            print(f"    per stage, plain/flow seconds: {per_stage}", flush=True)
            print(
                f"    Prefect API server CPU: {cpu1 - cpu0:.1f} s during the plain script, "
                f"{cpu2 - cpu1:.1f} s during the flow",
                flush=True,
            )
    print(
        "\n| scale | documents | plain script (s) | corpus-to-model flow (s) | flow/plain | "
        "task runs |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for scale, docs, tp, tf, tasks in rows:
        print(f"| {scale} | {docs} | {tp:.1f} | {tf:.1f} | {tf / tp:.2f} | {tasks} |")


if __name__ == "__main__":
    main()
