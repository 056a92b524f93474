"""Bytes each rank reads from the checkpoint store when it resumes, per world-size change.

    python benchmarks/checkpoint_resume.py              # tiny preset, CPU + gloo, about 2 minutes
    python benchmarks/checkpoint_resume.py --preset 124m

For each case a run writes a checkpoint at step 2 on `from` processes, then resumes it to step 3
on `to` processes (torchrun, gloo on CPU). Each resuming rank prints what it read from the store
(`resume rank R: read B bytes`: the small files whole, the shards as the byte ranges of the
encrypted chunks its DCP load plan touches); the table compares that with the checkpoint's size,
which is what every rank fetched and decrypted before the shards were read by range. Needs the
Project Gutenberg fixtures (../shared/fixtures/books) for real text.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the tests' corpus helpers (real BPE token shards)
sys.path.insert(0, str(REPO))

CASES = [  # (label, writer world, writer fsdp, reader world, reader fsdp)
    ("FSDP2 2 -> 2", 2, True, 2, True),
    ("one -> FSDP2 2", 1, False, 2, True),
    ("FSDP2 2 -> one", 2, True, 1, False),
    ("DDP 2 -> 2", 2, False, 2, False),
]
LINE = re.compile(r"resume rank (\d+): read (\d+) bytes \((\d+) file reads\)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--fixtures", type=Path, default=REPO.parent / "shared" / "fixtures")
    args = parser.parse_args()
    if not (args.fixtures / "books").is_dir():
        sys.exit(f"no fixtures at {args.fixtures} (../shared/fixtures/books)")

    from _train_helpers import book_paragraphs, tiny_config, token_shards

    from corpusforge.model.store import bootstrap_store, open_store

    tmp = Path(tempfile.mkdtemp(prefix="ckpt-resume-bench-"))
    shards = token_shards(book_paragraphs(args.fixtures, 120_000), tmp / "shards")
    token = bootstrap_store(tmp / "ws")["svc:trainer"]
    store = open_store(tmp / "ws", token)
    env = {**os.environ, "CORPUSFORGE_TOKEN": token, "OMP_NUM_THREADS": "1"}

    def leg(run: str, end: int, world: int, fsdp: bool) -> str:
        config = tiny_config(
            tmp,
            preset=args.preset,
            run_name=run,
            data=str(shards),
            max_steps=end,
            checkpoint_every=end,
            micro_batch_size=8 // world,
            eval_every=100,
            fsdp=fsdp,
            cpu_threads=1,
            metrics_path=None,
            storage_args={"workspace": str(tmp / "ws")},
        )
        path = tmp / f"{run}-{end}.json"
        path.write_text(config.model_dump_json())
        job = ["-m", "corpusforge.model.pretrain", "--config", str(path)]
        launcher = [sys.executable]
        if world > 1:
            launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={world}"]
        out = subprocess.run(
            launcher + job, env=env, capture_output=True, text=True, timeout=600, cwd=REPO
        )
        if out.returncode:
            sys.exit(out.stdout[-2000:] + out.stderr[-2000:])
        return out.stdout

    print(f"preset {args.preset}; bytes read by each resuming rank (store reads)")
    print(f"{'case':<16} {'checkpoint bytes':>17} {'rank':>5} {'read bytes':>11} {'share':>7}")
    for i, (label, w_from, f_from, w_to, f_to) in enumerate(CASES):
        run = f"case{i}"
        leg(run, 2, w_from, f_from)
        total = store.info(f"runs/{run}/step-0000002")["bytes"]
        reads = sorted((int(r), int(b)) for r, b, _ in LINE.findall(leg(run, 3, w_to, f_to)))
        for rank, nbytes in reads:
            print(f"{label:<16} {total:>17} {rank:>5} {nbytes:>11} {nbytes / total:>7.1%}")


if __name__ == "__main__":
    main()
