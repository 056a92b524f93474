"""WARC ingestion throughput against the extraction library called directly in a plain loop.

Generates WARC files of boilerplate-heavy HTML (default 4 files, 200 MB of HTML in all), then
measures, on the same files in the same run:

  baseline   the plain loop: fastwarc ArchiveIterator over the response records, the charset
             the HTTP header declares (resiliparse's detector where none is declared),
             resiliparse bytes_to_str and extract_plain_text with the options our reader uses
             (main_content=True, alt_texts=False, comments=False), one process, one core.
             The same extraction work our stage does, and nothing around it.
  detect-all the plain loop as resiliparse's docs write it: detect_encoding on every page
             (the baseline of earlier measurements, shown for reference)
  ours-1     corpusforge's ingest stage in one process (reader, charset, title, normalisation,
             ids, quarantine, Parquet shards on a writer thread, manifest): the overhead we
             add is ours-1 against the baseline
  ours-flow  `corpusforge ingest` as the user runs it: the Prefect flow, tasks over the units
             (a file, or a part of a large WARC file cut at a record start) on
             min(units, cores) warm worker processes (corpusforge.flows.workers; started by the
             untimed first run), assemble, audit and artifacts. The API server runs already (started
             before timing, as a deployment's server would be). The workers are children of
             a fork server, not of this process: their CPU time is not visible here, so the
             flow's "cores busy" and "CPU ratio" are left blank.
  flow-whole the same flow with every file read as one unit, as before large WARC files were
             split (shown when a file is large enough to be split: `--files 1` measures one
             large WARC file on every core against one core)

Peers a user would pick instead (--peers, same files, same run):

  trafilatura-2p  trafilatura (the extractor of datatrove's and FineWeb's pipelines) in a plain
             loop on two processes, one file each at a time: fastwarc over the response
             records, the declared charset (resiliparse's detector where none is), then
             `trafilatura.extract` with datatrove's options (favor_precision, no images,
             deduplicate); no timeout
  datatrove-2w datatrove's own WarcReader -> Trafilatura -> JsonlWriter pipeline on a
             LocalPipelineExecutor with one task per file and two workers, its extractor's
             timeout as shipped (1 s per page), in its own process (`pip install -e .[bench]`)

Each reports the documents it extracted: the extractors differ in what they keep.

ratio = baseline time / run time. For the flow, "per worker" divides that by the number of
worker processes: how close the flow comes to the plain loop run on every worker at once.

Usage: python benchmarks/ingest.py [--mb 200] [--files 4] [--repeats 3] [--keep DIR]
           [--peers trafilatura,datatrove]
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

from _warcgen import write_warc  # beside this script

from corpusforge.core.workspace import configure_offline_environment
from corpusforge.pipeline import stage_io
from corpusforge.pipeline.stage import run_local


def baseline(files: list[Path]) -> int:
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    docs = 0
    for path in files:
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
                body = rec.reader.read()
                html = bytes_to_str(body, rec.http_charset or detect_encoding(body))
                text = extract_plain_text(html, main_content=True, alt_texts=False, comments=False)
                docs += bool(text)
    return docs


def detect_all(files: list[Path]) -> int:
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    docs = 0
    for path in files:
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
                body = rec.reader.read()
                html = bytes_to_str(body, detect_encoding(body))
                docs += bool(extract_plain_text(html, main_content=True))
    return docs


def ours_single(files: list[Path], work: Path) -> int:
    from corpusforge.pipeline.ingest.stage import ingest_job

    shutil.rmtree(work, ignore_errors=True)
    m = run_local(ingest_job(files, work / "out", cache_root=work / "cache"), workers=1)
    return m["counts"]["out"]


def ours_flow(files: list[Path], work: Path) -> int:
    from corpusforge.flows.ingest import IngestParams, run_ingest

    shutil.rmtree(work, ignore_errors=True)
    os.environ["CORPUSFORGE_WORKSPACE"] = str(work / "ws")
    m = run_ingest(IngestParams(inputs=[str(f) for f in files], output=str(work / "out")))
    return m["counts"]["out"]


def flow_whole_files(files: list[Path], work: Path) -> int:
    """`ours_flow` with every file one unit (the split is decided in this process)."""
    saved = stage_io.UNIT_MIN_BYTES
    stage_io.UNIT_MIN_BYTES = 1 << 62
    try:
        return ours_flow(files, work)
    finally:
        stage_io.UNIT_MIN_BYTES = saved


def _trafilatura_file(path: Path) -> int:
    import trafilatura
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    docs = 0
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
            body = rec.reader.read()
            html = bytes_to_str(body, rec.http_charset or detect_encoding(body))
            text = trafilatura.extract(
                html, favor_precision=True, include_images=False, deduplicate=True
            )
            docs += bool(text)
    return docs


def trafilatura_two_processes(files: list[Path]) -> int:
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        return sum(pool.map(_trafilatura_file, files))


DATATROVE_SCRIPT = r"""
import sys
from pathlib import Path


def main():
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter

    data, out, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3])
    LocalPipelineExecutor(
        [WarcReader(data, glob_pattern="*.warc.gz"), Trafilatura(), JsonlWriter(f"{out}/docs")],
        tasks=tasks, workers=2, logging_dir=f"{out}/logs",
    ).run()
    import gzip
    docs = sum(sum(1 for _ in gzip.open(p, "rt")) for p in Path(f"{out}/docs").glob("*.gz"))
    print(docs)


if __name__ == "__main__":
    main()
"""


def datatrove_two_workers(files: list[Path], work: Path) -> int:
    import subprocess
    import sys

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    script = work.parent / "datatrove_ingest.py"
    script.write_text(DATATROVE_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(files[0].parent), str(work), str(len(files))],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"datatrove failed: {done.stderr[-2000:]}")
    return int(done.stdout.strip().splitlines()[-1])


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


PEERS = {"trafilatura-2p": "trafilatura", "datatrove-2w": "datatrove"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=200, help="MB of HTML in all files")
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="directory for the generated WARCs (reused)")
    ap.add_argument(
        "--peers", default="", help="also run: trafilatura (two processes), datatrove (two workers)"
    )
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="cf-bench-ingest-"))
    data_dir = args.keep or tmp / "warc"
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(tmp / "prefect"))
    # the flow's Prefect API: this run's own workspace server (stopped at the end)
    os.environ["CORPUSFORGE_WORKSPACE"] = str(tmp / "ws")
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
    from corpusforge.flows.common import share_api_with_workers

    t0 = time.perf_counter()
    share_api_with_workers()
    print(f"Prefect API start-up (not timed below): {time.perf_counter() - t0:.1f} s")

    # Imports and the first flow run's Prefect client set-up happen once per process (per CLI
    # invocation), not per file: do them before timing, on the smallest file, and say so.
    import corpusforge.pipeline.ingest.readers  # noqa: F401

    # The same workspace as the timed runs: the warm workers are kept only while the
    # corpusforge settings (the workspace among them) stay the same, so a warm-up in another
    # workspace left the first timed run to restart them (~5 s of fork-server preload).
    t0 = time.perf_counter()
    ours_flow([min(files, key=lambda p: p.stat().st_size)], tmp / "flow")
    print(f"first flow run, smallest file (not timed below): {time.perf_counter() - t0:.1f} s")

    units = sum(stage_io.unit_count(p.stat().st_size) for p in files)
    workers = min(units, os.cpu_count() or 1)  # what run_ingest starts
    peers = {p for p in args.peers.split(",") if p}
    runs = {"baseline": [], "detect-all": [], "ours-1": [], "ours-flow": []}
    if units > len(files):
        runs["flow-whole"] = []
    runs.update({name: [] for name, p in PEERS.items() if p in peers})
    for _ in range(args.repeats):  # interleaved, so load changes hit every run alike
        runs["baseline"].append(timed(baseline, files))
        runs["detect-all"].append(timed(detect_all, files))
        runs["ours-1"].append(timed(ours_single, files, tmp / "single"))
        runs["ours-flow"].append(timed(ours_flow, files, tmp / "flow"))
        if "flow-whole" in runs:
            runs["flow-whole"].append(timed(flow_whole_files, files, tmp / "flow"))
        if "trafilatura-2p" in runs:
            runs["trafilatura-2p"].append(timed(trafilatura_two_processes, files))
        if "datatrove-2w" in runs:
            runs["datatrove-2w"].append(timed(datatrove_two_workers, files, tmp / "datatrove"))

    base = statistics.median(w for w, _, _ in runs["baseline"])
    base_cpu = statistics.median(c for _, c, _ in runs["baseline"])
    print(
        f"\n{'run':<14} {'median s':>9} {'range s':>11} {'MB/s HTML':>10} {'docs/s':>8} "
        f"{'cores busy':>10} {'ratio':>6} {'per worker':>10} {'CPU ratio':>9} {'documents':>9}"
    )
    for name, samples in runs.items():
        wall = statistics.median(w for w, _, _ in samples)
        cpu = statistics.median(c for _, c, _ in samples)
        spread = f"{min(w for w, _, _ in samples):.2f}-{max(w for w, _, _ in samples):.2f}"
        docs = samples[-1][2]
        flow = name in ("ours-flow", "flow-whole", "datatrove-2w")  # workers' CPU not seen
        n = min(len(files), workers) if name == "flow-whole" else workers
        per_worker = f"{base / wall / n:>10.2f}" if flow else f"{'':>10}"
        busy = f"{'':>10}" if flow else f"{cpu / wall:>10.2f}"
        cpu_ratio = f"{'':>9}" if flow else f"{base_cpu / cpu:>9.2f}"
        print(
            f"{name:<14} {wall:>9.2f} {spread:>11} {html_bytes / 1e6 / wall:>10.1f} "
            f"{docs / wall:>8.0f} {busy} {base / wall:>6.2f} {per_worker} {cpu_ratio} {docs:>9}"
        )
    print(
        "\nratio = baseline time / run time (>= 0.8: at most 20% overhead); per worker = ratio / "
        f"{workers} worker processes; cores busy = CPU seconds (process, threads and "
        "finished children) / wall seconds; CPU ratio = baseline CPU seconds / run CPU seconds "
        "(the overhead in work done, whatever the machine's load)"
    )
    from corpusforge.core.workspace import Workspace
    from corpusforge.flows import server

    server.stop(Workspace.resolve(tmp / "ws"))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
