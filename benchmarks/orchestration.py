"""What Prefect adds to the data stages: the corpus-to-model flow against a plain script.

Both sides run ingest -> dedup -> PII -> tokenize on the same sample corpus, with fresh caches:
the plain side calls the `pipeline/` functions directly (`ingest`, `run_dedup_local`,
`scrub_documents`, `tokenize_corpus`); the flow side runs `flows.pipeline.run_pipeline`, whose
tasks map over files and shards. Sizes: the demo corpus (`write_sample(scale=1)`) and one 100x
larger. Prints wall time of each side, the flow/plain ratio, and the number of task runs.

    .venv/bin/python benchmarks/orchestration.py            # scale 1 and 100
    .venv/bin/python benchmarks/orchestration.py --quick    # scale 1 and 10
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# The repo root instead of benchmarks/ (whose tokenize.py would shadow the standard library's).
sys.path[0] = str(Path(__file__).resolve().parents[1])

STAGES = ["ingest", "dedup", "pii", "tokenize"]


def plain(sample: Path, out: Path, pii_cfg, tok_cfg) -> float:
    from pipeline.dedup.stage import run_dedup_local
    from pipeline.ingest.stage import ingest
    from pipeline.pii.stage import scrub_documents
    from pipeline.tokenize.stage import tokenize_corpus

    t0 = time.perf_counter()
    ingest([sample / d for d in ("web", "books", "wiki")], out / "documents")
    run_dedup_local(out / "documents", out / "dedup", workers=os.cpu_count() or 1)
    scrub_documents(out / "dedup", out / "pii", pii_cfg)
    tokenize_corpus(out / "pii", out / "tokens", tok_cfg)
    return time.perf_counter() - t0


def flow(sample: Path, out: Path, runner: str, pii_cfg, tok_cfg) -> tuple[float, int]:
    from datetime import UTC, datetime

    from prefect.client.orchestration import get_client

    from flows.pipeline import PipelineConfig, run_pipeline

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
    return seconds, tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="scales 1 and 10 instead of 1, 100")
    parser.add_argument("--scales", type=int, nargs="*", help="sample scales to measure")
    parser.add_argument(
        "--runner", default="threads", help="flow task runner: threads (default) or processes"
    )
    args = parser.parse_args()
    scales = args.scales or ([1, 10] if args.quick else [1, 100])

    root = Path(tempfile.mkdtemp(prefix="corpusforge-bench-orch-"))
    os.environ["CORPUSFORGE_WORKSPACE"] = str(root / "ws")
    from corpusforge.workspace import Workspace

    Workspace.resolve().activate()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect.testing.utilities import prefect_test_harness

    from pipeline.pii.config import PiiConfig
    from pipeline.sample import write_sample
    from pipeline.tokenize.config import TokenizeConfig

    pii_cfg, tok_cfg = PiiConfig(mode="fast"), TokenizeConfig(vocab_size=2048)
    rows = []
    with prefect_test_harness(server_startup_timeout=180):
        for scale in scales:
            sample = root / f"sample-{scale}"
            info = write_sample(sample, seed=0, scale=scale)
            docs = sum(info["document_counts"].values())
            # Fresh workspace caches per side, so neither reuses the other's work.
            os.environ["CORPUSFORGE_WORKSPACE"] = str(root / f"ws-plain-{scale}")
            t_plain = plain(sample, root / f"plain-{scale}", pii_cfg, tok_cfg)
            os.environ["CORPUSFORGE_WORKSPACE"] = str(root / f"ws-flow-{scale}")
            t_flow, tasks = flow(sample, root / f"flow-{scale}", args.runner, pii_cfg, tok_cfg)
            rows.append((scale, docs, t_plain, t_flow, tasks))
            print(
                f"scale {scale:>4}: {docs:>6} docs  plain {t_plain:7.1f} s  "
                f"flow {t_flow:7.1f} s  flow/plain {t_flow / t_plain:5.2f}  tasks {tasks}",
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
