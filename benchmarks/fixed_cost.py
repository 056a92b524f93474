"""What a small command costs beyond its work: a stage command on a 20-document JSONL file next to
the same stage through its Python API in a fresh process, side by side in one run.

    .venv/bin/python benchmarks/fixed_cost.py                 # dedup, pii (full), tokenize
    .venv/bin/python benchmarks/fixed_cost.py --stages dedup --repeat 5

Columns (wall seconds, median of --repeat runs, interleaved so load changes hit both sides):

- `api`: `python -c "<the stage's own function>(IN, OUT)"` in a fresh process (imports and the
  stage's process pool included): the stage's job on `run_local` (dedup on 2 workers, PII on
  one, tokenize as its config says);
- `cli warm`: `corpusforge <stage> IN -o OUT` while the workspace's Prefect server runs (it was
  started by an earlier command), with the workspace's stage cache removed before each run so
  the command redoes the work; its runs land in that server's API (the UI shows them);
- `cli temporary`: the same with `CORPUSFORGE_PREFECT_SERVER=temporary` (a Prefect API server
  started and stopped inside the command: the behaviour before the workspace server), one run;
- `cli fresh`: a new workspace (a new Prefect database, the server started by the command), one
  run.

The goal (issue 18): `cli warm` at most 2x `api`. The 20 documents are cut from the sentences
of the Gutenberg books in ../shared/fixtures (pseudo-text without them), two of them copies.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from dedup import _sentences  # noqa: E402  (the dedup benchmark's real-text sentences)

CLI = [sys.executable, "-m", "corpusforge.cli"]
API = {
    "dedup": (
        "from corpusforge.pipeline.stage import run_local\n"
        "from corpusforge.pipeline.dedup.stage import dedup_job\n"
        "run_local(dedup_job({i!r}, {o!r}), workers=2)"
    ),
    "pii": (
        "from corpusforge.pipeline.stage import run_local\n"
        "from corpusforge.pipeline.pii.stage import pii_job\n"
        "run_local(pii_job({i!r}, {o!r}), workers=1)"
    ),
    "tokenize": (
        "from corpusforge.pipeline.stage import run_local\n"
        "from corpusforge.pipeline.tokenize.stage import tokenize_job\n"
        "from corpusforge.pipeline.tokenize.config import TokenizeConfig as C\n"
        "run_local(tokenize_job({i!r}, {o!r}, C(vocab_size=512)))"
    ),
}
CLI_ARGS = {"dedup": [], "pii": ["--mode", "full"], "tokenize": ["--vocab-size", "512"]}


def make_input(path: Path, docs: int = 20) -> None:
    sents = _sentences()
    rows = []
    for i in range(docs - 2):
        rows.append({"id": f"doc-{i:03d}", "text": " ".join(sents[i * 12 : i * 12 + 12])})
    rows += [{"id": "copy-a", "text": rows[0]["text"]}, {"id": "copy-b", "text": rows[1]["text"]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:6])}... failed:\n{done.stderr[-3000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--stages", default="dedup,pii,tokenize")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    stages = [s for s in args.stages.split(",") if s]

    tmp = Path(tempfile.mkdtemp(prefix="fixed-cost-"))
    data = tmp / "in.jsonl"
    make_input(data)
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL",)}
    env.pop("CORPUSFORGE_PREFECT_SERVER", None)
    ws = tmp / "ws"
    env["CORPUSFORGE_WORKSPACE"] = str(ws)
    env["CORPUSFORGE_SERVER_IDLE_S"] = "300"
    n = 0

    def out() -> str:
        nonlocal n
        n += 1
        return str(tmp / f"out{n}")

    def cli(stage: str, e: dict[str, str]) -> float:
        shutil.rmtree(Path(e["CORPUSFORGE_WORKSPACE"]) / "cache", ignore_errors=True)
        return timed([*CLI, stage, str(data), "-o", out(), *CLI_ARGS[stage]], e)

    rows = []
    try:
        fresh = {
            s: cli(s, {**env, "CORPUSFORGE_WORKSPACE": str(tmp / f"fresh-{s}")}) for s in stages
        }
        temporary = {s: cli(s, {**env, "CORPUSFORGE_PREFECT_SERVER": "temporary"}) for s in stages}
        # warm: the workspace's server runs (started untimed, as an earlier command would have)
        subprocess.run([*CLI, "server", "start"], env=env, check=True, capture_output=True)
        for stage in stages:
            api, warm = [], []
            for _ in range(args.repeat):
                api.append(
                    timed([sys.executable, "-c", API[stage].format(i=str(data), o=out())], env)
                )
                warm.append(cli(stage, env))
            a, w = statistics.median(api), statistics.median(warm)
            rows.append((stage, a, w, w / a, temporary[stage], fresh[stage]))
    finally:
        for w in [ws, *(tmp / f"fresh-{s}" for s in stages)]:
            subprocess.run([*CLI, "server", "stop", "--workspace", str(w)], capture_output=True)
    print(
        f"20 documents ({data.stat().st_size} bytes), median of {args.repeat}, "
        f"{os.cpu_count()} cores"
    )
    print(
        "| stage | api, fresh process (s) | cli warm (s) | cli warm / api "
        "| cli temporary server (s) | cli fresh workspace (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for stage, a, w, r, t, f in rows:
        print(f"| {stage} | {a:.2f} | {w:.2f} | **{r:.2f}** | {t:.2f} | {f:.2f} |")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
