"""What object storage costs the data stages: ingest -> dedup -> PII (fast) -> tokenize on the
sample corpus with every input and output in S3 (moto's S3 server in a separate process on
localhost, so latency is the HTTP round trips, not a network) against the same run on local
paths, with fresh caches. The first round warms the process (imports, compiled kernels, the
PII scrubber) and is not reported; later rounds alternate local and S3 and print seconds per
stage and the S3/local ratio.

    .venv/bin/python benchmarks/stages_s3.py [--scale 1] [--workers 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(base: str, sample_inputs: list[str], cache: Path, workers: int) -> dict[str, float]:
    from corpusforge.pipeline.dedup import DedupConfig, dedup_job
    from corpusforge.pipeline.ingest.stage import ingest_job
    from corpusforge.pipeline.pii.config import PiiConfig
    from corpusforge.pipeline.pii.stage import pii_job
    from corpusforge.pipeline.stage import run_local
    from corpusforge.pipeline.tokenize import TokenizeConfig, tokenize_job

    jobs = {
        "ingest": lambda: ingest_job(sample_inputs, f"{base}/docs", None, cache / "i"),
        "dedup": lambda: dedup_job(f"{base}/docs", f"{base}/dedup", DedupConfig(), cache / "d"),
        "pii": lambda: pii_job(f"{base}/dedup", f"{base}/pii", PiiConfig(mode="fast"), cache / "p"),
        "tokenize": lambda: tokenize_job(
            f"{base}/pii",
            f"{base}/tok",
            TokenizeConfig(vocab_size=512, workers=workers),
            cache / "t",
        ),
    }
    seconds = {}
    for stage, job in jobs.items():
        t0 = time.perf_counter()
        run_local(job(), workers=workers)
        seconds[stage] = time.perf_counter() - t0
    seconds["total"] = sum(seconds.values())
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import boto3

    from corpusforge.demo import write_sample

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        os.environ.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="us-east-1",
        )
        client = boto3.client("s3")
        for _ in range(100):
            try:
                client.create_bucket(Bucket="bench")
                break
            except Exception:
                time.sleep(0.1)
        root = Path(tempfile.mkdtemp(prefix="stages-s3-"))
        sample = root / "sample"
        write_sample(sample, seed=0, scale=args.scale)
        for f in sorted(sample.rglob("*")):
            if f.is_file():
                client.upload_file(str(f), "bench", f"sample/{f.relative_to(sample).as_posix()}")
        parts = ["web", "books", "wiki"]
        rounds = []
        for r in range(args.rounds + 1):
            local_inputs = [str(sample / p) for p in parts]
            remote_inputs = [f"s3://bench/sample/{p}" for p in parts]
            local = run(str(root / f"local{r}"), local_inputs, root / f"l{r}", args.workers)
            remote = run(f"s3://bench/run{r}", remote_inputs, root / f"s{r}", args.workers)
            rounds.append((local, remote))
    finally:
        server.terminate()
    print(f"sample scale {args.scale}, {args.workers} workers, fresh caches")
    for r, (local, remote) in enumerate(rounds[1:], 1):
        print(f"round {r}\n{'stage':<10}{'local s':>10}{'s3 s':>10}{'s3/local':>10}")
        for stage in local:
            print(
                f"{stage:<10}{local[stage]:>10.2f}{remote[stage]:>10.2f}"
                f"{remote[stage] / local[stage]:>10.2f}"
            )


if __name__ == "__main__":
    main()
