"""WARC ingestion throughput against the extraction library called directly in a plain loop.

Generates WARC files of boilerplate-heavy HTML (default 4 files, 200 MB of HTML in all), then
measures, on the same files in the same run:

  baseline   fastwarc ArchiveIterator + resiliparse encoding detection + extract_plain_text
             (main_content=True) in one process: the extraction library with nothing around it
  ours-1     corpusforge's ingest stage in one process (reader, normalisation, ids, quarantine,
             Parquet shards, manifest): the overhead we add is ours-1 against the baseline
  ours-flow  the Prefect ingest flow with local worker processes (one task per file): shows the
             cores in use when there are several input files

Usage: python benchmarks/ingest.py [--mb 200] [--files 4] [--repeats 3] [--keep DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder would come first on sys.path and its tokenize.py would shadow
# the standard library's tokenize module: put the repository root there instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time

from benchmarks._warcgen import write_warc
from corpusforge.workspace import configure_offline_environment


def baseline(files: list[Path]) -> int:
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    docs = 0
    for path in files:
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
                body = rec.reader.read()
                html = bytes_to_str(body, detect_encoding(body))
                if extract_plain_text(html, main_content=True):
                    docs += 1
    return docs


def ours_single(files: list[Path], work: Path) -> int:
    from pipeline.ingest.stage import ingest

    shutil.rmtree(work, ignore_errors=True)
    m = ingest(files, work / "out", cache_root=work / "cache")
    return m["counts"]["out"]


def ours_flow(files: list[Path], work: Path) -> int:
    from flows.ingest import IngestParams, run_ingest

    shutil.rmtree(work, ignore_errors=True)
    os.environ["CORPUSFORGE_WORKSPACE"] = str(work / "ws")
    m = run_ingest(IngestParams(inputs=[str(f) for f in files], output=str(work / "out")))
    return m["counts"]["out"]


def timed(fn, *args) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (this process and its children) and the result."""
    r0, c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = fn(*args)
    wall = time.perf_counter() - t0
    r1, c1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) + (
        c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime
    )
    return wall, cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=200, help="MB of HTML in all files")
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="directory for the generated WARCs (reused)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="cf-bench-ingest-"))
    data_dir = args.keep or tmp / "warc"
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(tmp / "prefect"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    configure_offline_environment()
    files, html_bytes = [], 0
    per_file = int(args.mb * 1e6 / args.files)
    for i in range(args.files):
        path = data_dir / f"bench-{i:02d}.warc.gz"
        if not path.exists():
            write_warc(path, per_file, seed=i)
        files.append(path)
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    records = 0
    for p in files:
        with open(p, "rb") as f:
            for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
                html_bytes += len(rec.reader.read())
                records += 1
    warc_bytes = sum(p.stat().st_size for p in files)
    print(
        f"data: {len(files)} files, {records} HTML responses, {html_bytes / 1e6:.1f} MB HTML "
        f"({warc_bytes / 1e6:.1f} MB .warc.gz), cores: {os.cpu_count()}"
    )

    # The flow runs against a Prefect API that is already up, as it is in production (a
    # server, or the ephemeral one shared with the workers): its start-up is not ingest work.
    from flows.common import share_api_with_workers

    t0 = time.perf_counter()
    share_api_with_workers()
    print(f"Prefect API start-up (not timed below): {time.perf_counter() - t0:.1f} s")

    runs = {"baseline": [], "ours-1": [], "ours-flow": []}
    for _ in range(args.repeats):
        runs["baseline"].append(timed(baseline, files))
        runs["ours-1"].append(timed(ours_single, files, tmp / "single"))
        runs["ours-flow"].append(timed(ours_flow, files, tmp / "flow"))

    base = statistics.median(w for w, _, _ in runs["baseline"])
    print(
        f"\n{'run':<10} {'median s':>9} {'MB/s HTML':>10} {'docs/s':>8} {'cores used':>10} "
        f"{'ratio vs baseline':>18}"
    )
    for name, samples in runs.items():
        wall = statistics.median(w for w, _, _ in samples)
        cpu = statistics.median(c for _, c, _ in samples)
        docs = samples[-1][2]
        print(
            f"{name:<10} {wall:>9.2f} {html_bytes / 1e6 / wall:>10.1f} {docs / wall:>8.0f} "
            f"{cpu / wall:>10.2f} {base / wall:>18.2f}"
        )
    print("\nratio = baseline time / run time (>= 0.8 means at most 20% overhead)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
