"""Put/get throughput of one large checkpoint file through the secure store (AES-256-GCM
envelope + sha256 manifest + audit) against a plain file copy on the same disk, same run.

    /work/main/.venv/bin/python benchmarks/store.py --size-mb 1024 --repeat 3

Each repeat times shutil.copytree of the checkpoint folder (the peer), a put and a get;
dirty pages are flushed (untimed) before each, so no step pays for an earlier one's
writeback. Prints medians, the store/copy ratios (goal: >= 0.5 of plain copy speed) and the
peak memory (RSS high-water mark) each step added to the process.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from corpusforge.core.workspace import Workspace
from corpusforge.model.store import bootstrap_store, open_store
from corpusforge.model.store.envelope import DEFAULT_CHUNK_BYTES, buffer_bytes


def _write_random(path: Path, size_mb: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(size_mb):
            f.write(block[i % 7 :] + block[: i % 7])  # cheap, not compressible, not constant


def _rss_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the RSS high-water mark (Linux: clear_refs 5); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _timed(fn) -> tuple[float, float | None]:
    """Seconds `fn` took and the MiB its peak RSS rose above the RSS it started with."""
    os.sync()
    can_reset = _reset_peak()
    before = _rss_kib("VmRSS") if can_reset else None
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    peak = _rss_kib("VmHWM") if can_reset else None
    grew = (peak - before) / 1024 if peak is not None and before is not None else None
    return seconds, grew


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
        admin = open_store(ws, tokens["user:admin"])
        src = scratch / "ckpt"
        src.mkdir()
        _write_random(src / "model.safetensors", args.size_mb)
        runs: dict[str, list[tuple[float, float | None]]] = {"copy": [], "put": [], "get": []}
        for i in range(args.repeat):
            name, copied, out = f"bench/{i}", scratch / f"copy-{i}", scratch / f"out-{i}"
            runs["copy"].append(_timed(lambda d=copied: shutil.copytree(src, d)))
            shutil.rmtree(copied)
            runs["put"].append(_timed(lambda n=name: store.put_checkpoint(n, src, {})))
            runs["get"].append(_timed(lambda n=name, o=out: store.get_checkpoint(n, o)))
            shutil.rmtree(out)
            admin.delete_checkpoint(name)  # keep the disk and the dirty page cache small
        mb = args.size_mb
        seconds = {step: statistics.median(t for t, _ in r) for step, r in runs.items()}
        peaks = {step: [m for _, m in r if m is not None] for step, r in runs.items()}
        print(f"size: {mb} MiB, repeats: {args.repeat} (medians), cpus: {os.cpu_count()}")
        for step in ("copy", "put", "get"):
            label = {"copy": "plain copy", "put": "store put ", "get": "store get "}[step]
            ratio = seconds["copy"] / seconds[step]
            ratio = "" if step == "copy" else f"  ratio vs copy {ratio:.2f}"
            peak = f"  peak RSS +{max(peaks[step]):.0f} MiB" if peaks[step] else ""
            print(f"{label} : {mb / seconds[step]:8.1f} MiB/s{ratio}{peak}")
        print(
            f"envelope buffers: {buffer_bytes() / 2**20:.0f} MiB at most "
            f"(chunk {DEFAULT_CHUNK_BYTES >> 10} KiB); process max RSS "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
