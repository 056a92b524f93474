"""PII end to end through the CLI: `corpusforge pii --mode full` on one JSONL file against stock
presidio on one core, per core, in the same run (issue 16's throughput goal: >= 5x).

    .venv/bin/python benchmarks/pii_e2e.py                   # ~4 MB of documents
    .venv/bin/python benchmarks/pii_e2e.py --docs 4000 --presidio-docs 300

The documents are the PII benchmark's own generated set (benchmarks/pii_data.py: letters,
tickets, CVs, logs, ...), repeated with fresh seeds up to --docs, written as one JSONL file.

- corpusforge: `corpusforge pii IN.jsonl -o OUT --mode full` in a fresh process, while the
  workspace's Prefect server runs (started by an earlier command), its stage cache removed
  first: imports, JSONL conversion (a file over 1 MB is split into 16 units), the worker pool on
  every core, the Prefect flow run, output shards, manifest and audit entries. Per core: the
  file's characters / wall seconds / the cores the command used (os.cpu_count()).
- stock presidio: AnalyzerEngine (default recognizers, the same spaCy model) + AnonymizerEngine,
  `analyze` + `anonymize` per document, in one process on one core, on the first
  --presidio-docs documents after a warm-up (benchmarks/pii.py's `presidio()`), chars/s.

Each side runs --repeat times in turn; the best pass of each is kept. On a machine that other
work shares, wall time per core understates a multi-process command, so the CPU seconds of each
side are reported too: the command and every process it waited for (its workers) against
presidio's own process, and the ratio of characters per CPU second; the load average before and
after says how busy the machine was. The workspace's Prefect server runs in its own process, so
its CPU is not counted (its wall time is).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pii_data import generate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--presidio-docs", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pii-e2e-"))
    docs = []
    seed = 0
    while len(docs) < args.docs:
        docs += [
            {"id": f"s{seed}-{d['id']}", "text": d["text"]}
            for d in generate(min(700, args.docs - len(docs)), seed=seed)
        ]
        seed += 1
    src = tmp / "docs.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    chars = sum(len(d["text"]) for d in docs)
    cores = os.cpu_count() or 1
    print(
        f"{len(docs)} documents, {chars} chars ({src.stat().st_size / 1e6:.1f} MB JSONL); "
        f"{cores} CPUs, load average {os.getloadavg()[0]:.1f}"
    )

    from pii import presidio  # the PII benchmark's stock presidio runner

    run_presidio = presidio()
    sample = docs[: args.presidio_docs]
    sample_chars = sum(len(d["text"]) for d in sample)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(CORPUSFORGE_WORKSPACE=str(tmp / "ws"), CORPUSFORGE_SERVER_IDLE_S="600")
    cli = [sys.executable, "-m", "corpusforge.cli"]
    subprocess.run([*cli, "server", "start"], env=env, check=True, capture_output=True)
    cf, pr, cf_cpu, pr_cpu = [], [], [], []
    load_before = os.getloadavg()
    try:
        for rep in range(args.repeat):
            shutil.rmtree(tmp / "ws" / "cache", ignore_errors=True)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            done = subprocess.run(
                [*cli, "pii", str(src), "-o", str(tmp / f"out{rep}"), "--mode", "full"],
                env=env,
                capture_output=True,
                text=True,
            )
            cf.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cf_cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            if done.returncode != 0:
                raise SystemExit(f"corpusforge pii failed: {done.stderr[-2000:]}")
            cpu0 = time.process_time()
            pr.append(run_presidio(sample)[3])
            pr_cpu.append(time.process_time() - cpu0)
    finally:
        subprocess.run([*cli, "server", "stop"], env=env, capture_output=True)
    counts = json.loads((tmp / "out0" / "manifest.json").read_text())["counts"]
    load_after = os.getloadavg()
    cf_core = chars / min(cf) / cores
    pr_core = sample_chars / min(pr)
    cf_per_cpu = chars / min(cf_cpu)
    pr_per_cpu = sample_chars / min(pr_cpu)
    print(f"corpusforge counts: {counts}")
    print("\n| system | documents | wall (s), best of runs | chars/s per core | vs presidio |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| `corpusforge pii --mode full` (CLI, {cores} cores) | {len(docs)} | "
        f"{min(cf):.1f} ({', '.join(f'{s:.1f}' for s in cf)}) | {cf_core:,.0f} | "
        f"**{cf_core / pr_core:.1f}x** |"
    )
    print(
        f"| stock presidio (1 core, in process) | {len(sample)} | "
        f"{min(pr):.1f} ({', '.join(f'{s:.1f}' for s in pr)}) | {pr_core:,.0f} | 1.0x |"
    )
    print("\n| system | CPU seconds, best of runs | chars per CPU second | vs presidio |")
    print("|---|---:|---:|---:|")
    print(
        f"| `corpusforge pii --mode full` (command + workers) | {min(cf_cpu):.1f} "
        f"({', '.join(f'{s:.1f}' for s in cf_cpu)}) | {cf_per_cpu:,.0f} | "
        f"**{cf_per_cpu / pr_per_cpu:.1f}x** |"
    )
    print(
        f"| stock presidio (in process) | {min(pr_cpu):.1f} "
        f"({', '.join(f'{s:.1f}' for s in pr_cpu)}) | {pr_per_cpu:,.0f} | 1.0x |"
    )
    print(
        "\nload average (1, 5, 15 min) before: "
        + ", ".join(f"{x:.1f}" for x in load_before)
        + "; after: "
        + ", ".join(f"{x:.1f}" for x in load_after)
    )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
