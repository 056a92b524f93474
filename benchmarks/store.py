"""Put/get throughput of one large checkpoint file through the secure store (AES-256-GCM
envelope + sha256 manifest + audit) against a plain file copy on the same disk, same run.

    /work/main/.venv/bin/python benchmarks/store.py --size-mb 1024 --repeat 3

Prints medians and the store/copy ratio (goal: >= 0.5 of plain copy speed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This folder holds tokenize.py, which would shadow the standard library: put the repo root first.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from corpusforge.workspace import Workspace  # noqa: E402
from model.store import bootstrap_store, open_store  # noqa: E402


def _write_random(path: Path, size_mb: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(size_mb):
            f.write(block[i % 7 :] + block[: i % 7])  # cheap, not compressible, not constant


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="scratch folder (default: system temp)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="cf-store-bench-", dir=args.dir))
    try:
        ws = Workspace(scratch / "ws")
        os.environ["CORPUSFORGE_AUDIT_URL"] = f"sqlite:///{scratch / 'audit.db'}"
        tokens = bootstrap_store(ws)
        store = open_store(ws, tokens["svc:trainer"])
        src = scratch / "ckpt"
        src.mkdir()
        _write_random(src / "model.safetensors", args.size_mb)
        copy_t, put_t, get_t = [], [], []
        for i in range(args.repeat):
            dst = scratch / f"copy-{i}"
            copy_t.append(_timed(lambda d=dst: shutil.copytree(src, d)))
            shutil.rmtree(dst)
            put_t.append(_timed(lambda i=i: store.put_checkpoint(f"bench/{i}", src, {})))
            out = scratch / f"out-{i}"
            get_t.append(_timed(lambda i=i, o=out: store.get_checkpoint(f"bench/{i}", o)))
            shutil.rmtree(out)
        mb = args.size_mb
        copy, put, get = (statistics.median(t) for t in (copy_t, put_t, get_t))
        print(f"size: {mb} MiB, repeats: {args.repeat} (medians)")
        print(f"plain copy : {mb / copy:8.1f} MiB/s")
        print(f"store put  : {mb / put:8.1f} MiB/s  ratio vs copy {copy / put:.2f}")
        print(f"store get  : {mb / get:8.1f} MiB/s  ratio vs copy {copy / get:.2f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
