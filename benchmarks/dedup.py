"""Dedup benchmark: a corpus with a known answer, exact ground truth, corpusforge vs peers.

    .venv/bin/python benchmarks/dedup.py --size-mb 20                       # quick
    .venv/bin/python benchmarks/dedup.py --size-mb 200 --subset-peers datasketch  # docs/dedup.md

The corpus is built from sentences of real English text (the Gutenberg books in
../shared/fixtures when present), cut into documents of log-normal length; then exact copies
(re-cased, re-spaced) and near copies at controlled word-edit rates are planted. Ground truth
is the exact 5-gram Jaccard (the normalisation of docs/dedup.md) of every pair inside a
family (an original and its copies; documents of different families share no planted text).
A removed document is right when a document the tool kept is a true >= threshold duplicate
of it; recall is right removals over the removals the rule requires (greedy, input order).

Each tool runs in its own process on the same Parquet shards; peak memory is that process
tree's largest resident set. Peers: datasketch used plainly (MinHash.update per shingle,
MinHashLSH query-then-insert) and datatrove's MinHash stages 1-4 (local executor; installed
by the `bench` extra). Peers named in --subset-peers (default: plain datasketch, ~0.3 MB/s)
run on a random subset of whole families of --subset-mb, scored against that subset's own
ground truth, and are labelled so in the table.

End to end (`--e2e-mb 65`, issue 18): the same kind of corpus as one JSONL file, deduplicated
by the `corpusforge dedup` command (a fresh process: imports, JSONL conversion, Prefect flow
run reported to the workspace's Prefect server, which an earlier command started; the output
Parquet shards, clusters and manifest written) against a batched datasketch script on
--workers processes (reads the JSONL, MinHash.bulk signatures of 1,000-document batches on a
process pool, MinHashLSH query-then-insert in input order, kept documents written as JSONL),
in the same run, each in its own process, wall time of the whole process.

    .venv/bin/python benchmarks/dedup.py --e2e-mb 65
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_BOOKS = ROOT.parent / "shared" / "fixtures" / "books"
EDIT_RATES = (0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2)


# ---------------------------------------------------------------- corpus with a known answer
def _sentences() -> list[str]:
    text = ""
    if FIXTURE_BOOKS.is_dir():
        for p in sorted(FIXTURE_BOOKS.glob("*.txt")):
            text += p.read_bytes().decode("latin-1") + "\n"
    if len(text) < 100_000:  # no fixtures: pseudo-words, still with sentence structure
        rng = random.Random(0)
        words = [
            "".join(rng.choice("etaoinshrdlucmfw") for _ in range(rng.randint(2, 9)))
            for _ in range(20000)
        ]
        text = ". ".join(
            " ".join(rng.choice(words) for _ in range(rng.randint(5, 25))) for _ in range(40000)
        )
    sents = [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if len(s) > 20]
    return sents


def _edit(rng: random.Random, text: str, rate: float, vocab: list[str]) -> str:
    words = text.split(" ")
    for _ in range(max(1, int(len(words) * rate))):
        i = rng.randrange(len(words))
        op = rng.random()
        if op < 0.6:
            words[i] = rng.choice(vocab)
        elif op < 0.8 and len(words) > 10:
            del words[i]
        else:
            words.insert(i, rng.choice(vocab))
    return " ".join(words)


def build_corpus(out: Path, size_mb: float, shards: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    sents = _sentences()
    vocab = sorted({w for s in sents[:5000] for w in s.split()})
    rows, families, total = [], [], 0
    target = size_mb * 1e6
    while total < target:
        n_sent = max(3, int(rng.lognormvariate(3.3, 0.9)))
        start = rng.randrange(len(sents))
        # a random walk over sentences: related documents share some text, as real ones do
        body = " ".join(sents[(start + i * rng.randint(1, 40)) % len(sents)] for i in range(n_sent))
        fam = len(families)
        members = [body]
        r = rng.random()
        if r < 0.08:
            members.append(body.upper() if rng.random() < 0.5 else body.replace(" ", "  "))
        elif r < 0.30:
            for _ in range(rng.choice((1, 1, 2, 3))):
                members.append(_edit(rng, body, rng.choice(EDIT_RATES), vocab))
        families.append(len(members))
        for k, text in enumerate(members):
            rows.append(
                {
                    "id": f"f{fam}-{k}",
                    "text": text,
                    "source": rng.choice(("web", "books")),
                    "meta": json.dumps({"title": f"doc {fam}.{k}"}),
                    "family": fam,
                }
            )
            total += len(text.encode())
    rng.shuffle(rows)
    out.mkdir(parents=True, exist_ok=True)
    per = (len(rows) + shards - 1) // shards
    for s in range(shards):
        part = rows[s * per : (s + 1) * per]
        pq.write_table(
            pa.Table.from_pylist(part), out / f"part-{s:05d}.parquet", compression="zstd"
        )
    return {"documents": len(rows), "bytes": total, "families": len(families)}


def ground_truth(corpus: Path, threshold: float) -> tuple[dict, list[str], set[str]]:
    """Exact Jaccard of every in-family pair, the ids in input order, required removals."""
    from corpusforge.pipeline.dedup.shingles import normalize_for_dedup

    table = pa.concat_tables(pq.read_table(p) for p in sorted(corpus.glob("part-*.parquet")))
    ids = table["id"].to_pylist()
    fams: dict[int, list[int]] = {}
    for i, f in enumerate(table["family"].to_pylist()):
        fams.setdefault(f, []).append(i)
    texts = table["text"]
    sims: dict[tuple[str, str], float] = {}

    def shingles(i):
        w = normalize_for_dedup(texts[i].as_py()).split(" ")
        return {" ".join(w[k : k + 5]) for k in range(len(w) - 4)} or {" ".join(w)}

    for members in fams.values():
        if len(members) < 2:
            continue
        sets = {i: shingles(i) for i in members}
        for a in members:
            for b in members:
                if a < b:
                    j = len(sets[a] & sets[b]) / len(sets[a] | sets[b])
                    sims[(ids[a], ids[b])] = sims[(ids[b], ids[a])] = j
    # the rule on the exact graph, input order first: which documents must go
    kept: list[str] = []
    required: set[str] = set()
    fam_of = {ids[i]: f for f, ms in fams.items() for i in ms}
    kept_by_fam: dict[int, list[str]] = {}
    for i in ids:
        f = fam_of[i]
        if any(sims.get((i, k), 0) >= threshold for k in kept_by_fam.get(f, [])):
            required.add(i)
        else:
            kept_by_fam.setdefault(f, []).append(i)
            kept.append(i)
    return sims, ids, required


def score(removed: set[str], ids: list[str], sims: dict, required: set[str], t: float) -> dict:
    kept = set(ids) - removed
    partners: dict[str, list[str]] = {}
    for (a, b), j in sims.items():
        if j >= t:
            partners.setdefault(a, []).append(b)
    right = sum(1 for d in removed if any(k in kept for k in partners.get(d, ())))
    return {
        "removed": len(removed),
        "precision": right / len(removed) if removed else 1.0,
        "recall": min(1.0, right / len(required)) if required else 1.0,
    }


# ---------------------------------------------------------------- tools (each in a subprocess)
def tool_corpusforge(corpus: Path, work: Path, threshold: float, workers: int) -> set[str]:
    from corpusforge.pipeline.dedup import DedupConfig, dedup_job
    from corpusforge.pipeline.stage import run_local

    out = work / "corpusforge"
    run_local(
        dedup_job(
            corpus,
            out,
            DedupConfig(threshold=threshold),
            work / "cf-work",
            overwrite=True,
            allow_incomplete=True,
        ),
        workers=workers,
    )
    clusters = pq.read_table(out / "clusters.parquet", columns=["id", "kept"]).to_pylist()
    return {r["id"] for r in clusters if not r["kept"]}


_PLAIN_SPLIT = re.compile(r"\W+")


def tool_datasketch(corpus: Path, work: Path, threshold: float, workers: int) -> set[str]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    removed = set()
    for shard in sorted(corpus.glob("part-*.parquet")):
        t = pq.read_table(shard, columns=["id", "text"])
        for doc_id, text in zip(t["id"].to_pylist(), t["text"].to_pylist(), strict=True):
            words = [w for w in _PLAIN_SPLIT.split(text.lower()) if w]
            m = MinHash(num_perm=128)
            for k in range(max(1, len(words) - 4)):
                m.update(" ".join(words[k : k + 5]).encode())
            if lsh.query(m):
                removed.add(doc_id)
            else:
                lsh.insert(doc_id, m)
    return removed


# datatrove's executor starts its pool with "forkserver", which re-imports the main module:
# without the __main__ guard every worker re-ran the whole script (the crash loop seen before).
DATATROVE_SCRIPT = r"""
import json, resource, sys, time
from pathlib import Path

import datatrove.utils.hashes.xxhash as dt_xxhash
import xxhash

# datatrove 0.10 hashes str, which xxhash >= 4 refuses; encode as UTF-8 (what xxhash 3 did).
# At module level, so the forkserver workers (which import this file) get it too.
dt_xxhash.xxhash32 = lambda d: xxhash.xxh32_intdigest(d.encode() if isinstance(d, str) else d)
dt_xxhash.xxhash64 = lambda d: xxhash.xxh64_intdigest(d.encode() if isinstance(d, str) else d)


def main():
    t0 = time.perf_counter()
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets,
        MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature)
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import JsonlWriter

    corpus, work, workers = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    n = len(list(Path(corpus).glob("part-*.parquet")))
    cfg = MinhashConfig()
    reader = ParquetReader(corpus, id_key="id", text_key="text")

    def run(pipeline, tasks, name):
        LocalPipelineExecutor(pipeline, tasks=tasks, workers=min(workers, tasks),
                              logging_dir=f"{work}/{name}").run()

    run([reader, MinhashDedupSignature(output_folder=f"{work}/sigs", config=cfg)], n, "l1")
    run([MinhashDedupBuckets(input_folder=f"{work}/sigs", output_folder=f"{work}/buckets",
                             config=cfg)], cfg.num_buckets, "l2")
    run([MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove_ids",
                             config=cfg)], 1, "l3")
    run([reader, MinhashDedupFilter(input_folder=f"{work}/remove_ids",
                                    exclusion_writer=JsonlWriter(f"{work}/removed",
                                                                 compression=None)),
         JsonlWriter(f"{work}/kept", compression=None)], n, "l4")
    seconds = time.perf_counter() - t0
    removed = [json.loads(line)["id"] for p in Path(f"{work}/removed").glob("*.jsonl")
               for line in open(p)]
    Path(f"{work}/removed_ids.json").write_text(json.dumps(removed))
    # VmHWM, not RUSAGE_SELF: getrusage's maximum survives exec, so it would report the
    # benchmark parent's memory (it holds the corpus) instead of this tool's
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
    own = int(hwm[0].split()[1]) if hwm else 0
    peak = max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": round(peak, 1)}))


if __name__ == "__main__":
    main()
"""


def run_datatrove(corpus: Path, work: Path, peer_python: str, workers: int) -> dict:
    d = work / "datatrove"
    script = work / "datatrove_run.py"
    script.write_text(DATATROVE_SCRIPT)
    cmd = [peer_python, str(script), str(corpus), str(d), str(workers)]
    return _timed(cmd, lambda: set(json.loads((d / "removed_ids.json").read_text())))


def _descendants(root: int) -> list[int]:
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:  # field 4 of /proc/PID/stat, after the parenthesised command name
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [root], [root]
    while frontier:
        frontier = [p for p, pp in parent.items() if pp in frontier]
        tree += frontier
    return tree


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _timed(cmd: list[str], read_removed) -> dict:
    """Run a tool; peak memory is the largest resident set of any process of its tree, from
    its own report and from sampling /proc every 0.5 s (datatrove's forkserver workers are
    not its children, so getrusage in the tool cannot see them)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)  # files: never blocks
        sampled = 0
        while proc.poll() is None:
            sampled = max([sampled] + [_rss_kb(p) for p in _descendants(proc.pid)])
            time.sleep(0.5)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        return {"error": (stderr.strip().splitlines() or ["failed"])[-1][:200]}
    info = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else {}
    return {
        "seconds": info.get("seconds", wall),
        "peak_mb": round(max(info.get("peak_mb") or 0, sampled / 1024), 1),
        "removed": read_removed(),
    }


def _own_peak_kb() -> int:
    """This process's peak resident set (VmHWM). Not getrusage(RUSAGE_SELF): its maximum
    survives exec, so a tool started by this benchmark would report the benchmark's memory
    (which holds the whole corpus); pool workers forked by the tool are RUSAGE_CHILDREN."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(tool: str, corpus: Path, work: Path, threshold: float, workers: int) -> None:
    t0 = time.perf_counter()
    removed = {"corpusforge": tool_corpusforge, "datasketch": tool_datasketch}[tool](
        corpus, work, threshold, workers
    )
    seconds = time.perf_counter() - t0
    (work / f"{tool}_removed.json").write_text(json.dumps(sorted(removed)))
    peak = max(_own_peak_kb(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": round(peak, 1)}))


def _signature_bytes_per_doc(work: Path, docs: int) -> float:
    files = [
        p for p in (work / "cf-work").rglob("*.npy") if p.name in ("signatures.npy", "bands.npy")
    ]
    return sum(p.stat().st_size for p in files) / max(docs, 1)


def subset_corpus(corpus: Path, out: Path, size_mb: float, shards: int, seed: int = 1) -> dict:
    """Whole families (an original and all its copies) drawn at random up to `size_mb`, in
    input order: a slow peer's precision/recall on it is scored like the full run's."""
    table = pa.concat_tables(pq.read_table(p) for p in sorted(corpus.glob("part-*.parquet")))
    fam = table["family"].to_pylist()
    size: dict[int, int] = {}
    for f, n in zip(fam, pc.binary_length(table["text"]).to_pylist(), strict=True):
        size[f] = size.get(f, 0) + n
    order = sorted(size)
    random.Random(seed).shuffle(order)
    chosen, total = set(), 0
    for f in order:
        if total >= size_mb * 1e6:
            break
        chosen.add(f)
        total += size[f]
    rows = table.filter(pa.array([f in chosen for f in fam]))
    out.mkdir(parents=True, exist_ok=True)
    per = (rows.num_rows + shards - 1) // shards
    for k in range(shards):
        part = rows.slice(k * per, per)
        pq.write_table(part, out / f"part-{k:05d}.parquet", compression="zstd")
    return {"documents": rows.num_rows, "bytes": total}


WARM_KERNELS = (
    "from corpusforge.pipeline.dedup.shingles import normalize_for_dedup as n, shingle_sets as s; "
    "from corpusforge.pipeline.dedup.minhash import signatures, permutations; "
    "h, o = s([n('Warm é'), n('one two three four five six')]); "
    "signatures(h, o, permutations(64))"
)


# ------------------------------------------------------------------------------ end to end
DATASKETCH_BATCHED = r"""
import json, sys
from concurrent.futures import ProcessPoolExecutor
import re

from datasketch import MinHash, MinHashLSH

SPLIT = re.compile(r"\W+")


def signatures(texts):
    sets = []
    for text in texts:
        words = [w for w in SPLIT.split(text.lower()) if w]
        sets.append([" ".join(words[k : k + 5]).encode() for k in range(max(1, len(words) - 4))])
    return [(m.hashvalues, m.scheme) for m in MinHash.bulk(sets, num_perm=128)]


def main():
    src, dst, workers, threshold = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    rows = [json.loads(line) for line in open(src, encoding="utf-8") if line.strip()]
    texts = [r["text"] for r in rows]
    step = 1000
    with ProcessPoolExecutor(workers) as pool:
        sigs = [h for batch in pool.map(signatures, [texts[i:i + step]
                for i in range(0, len(texts), step)]) for h in batch]
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    removed = []
    with open(dst, "w", encoding="utf-8") as out:
        for row, (h, scheme) in zip(rows, sigs):
            m = MinHash(num_perm=128, hashvalues=h, scheme=scheme)
            if lsh.query(m):
                removed.append(row["id"])
                continue
            lsh.insert(row["id"], m)
            out.write(json.dumps(row) + "\n")
    print(json.dumps({"removed": len(removed), "in": len(rows)}))


if __name__ == "__main__":
    main()
"""


def end_to_end(work: Path, size_mb: float, threshold: float, workers: int) -> None:
    """`corpusforge dedup` on one JSONL file vs batched datasketch on `workers` processes."""
    corpus = work / "e2e-corpus"
    info = build_corpus(corpus, size_mb, 1)
    jsonl = work / "corpus.jsonl"
    table = pq.read_table(corpus / "part-00000.parquet", columns=["id", "text", "source", "meta"])
    with open(jsonl, "w", encoding="utf-8") as fh:
        for row in table.to_pylist():
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    mb = jsonl.stat().st_size / 1e6
    print(
        f"end to end: one JSONL file of {info['documents']} documents, {mb:.1f} MB; "
        f"{workers} workers, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    subprocess.run([sys.executable, "-c", WARM_KERNELS], check=True, cwd=ROOT)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(CORPUSFORGE_WORKSPACE=str(work / "ws"), CORPUSFORGE_SERVER_IDLE_S="600")
    cli = [sys.executable, "-m", "corpusforge.cli"]
    subprocess.run([*cli, "server", "start"], env=env, check=True, capture_output=True)
    script = work / "datasketch_batched.py"
    script.write_text(DATASKETCH_BATCHED)
    rows = []
    try:
        for rep in range(2):
            for tool in ("corpusforge", "datasketch"):
                out = work / f"e2e-{tool}-{rep}"
                if tool == "corpusforge":
                    shutil.rmtree(work / "ws" / "cache", ignore_errors=True)  # redo the work
                    cmd = [*cli, "dedup", str(jsonl), "-o", str(out), "--threshold"]
                    cmd += [str(threshold)]
                else:
                    cmd = [sys.executable, str(script), str(jsonl), str(out) + ".jsonl"]
                    cmd += [str(workers), str(threshold)]
                t0 = time.perf_counter()
                done = subprocess.run(cmd, env=env, capture_output=True, text=True)
                seconds = time.perf_counter() - t0
                if done.returncode != 0:
                    raise SystemExit(f"{tool} failed: {done.stderr[-2000:]}")
                if tool == "corpusforge":
                    counts = json.loads((out / "manifest.json").read_text())["counts"]
                    removed = counts["in"] - counts["out"] - counts["rejected"]
                else:
                    removed = json.loads(done.stdout.strip().splitlines()[-1])["removed"]
                rows.append((rep, tool, seconds, removed))
    finally:
        subprocess.run([*cli, "server", "stop"], env=env, capture_output=True)
    best = {t: min(s for _, tt, s, _ in rows if tt == t) for t in ("corpusforge", "datasketch")}
    print("\n| run | tool | wall (s) | MB/s | removed |")
    print("|---:|---|---:|---:|---:|")
    for rep, tool, seconds, removed in rows:
        print(f"| {rep + 1} | {tool} | {seconds:.1f} | {mb / seconds:.1f} | {removed} |")
    print(
        f"\ncorpusforge dedup end to end vs datasketch batched on {workers} processes "
        f"(best of 2 each): **{best['datasketch'] / best['corpusforge']:.2f}x**"
    )


def run_tool(tool: str, corpus: Path, work: Path, args) -> dict:
    if tool == "datatrove":
        if not Path(args.peer_python).exists():
            return {"error": f"no peer python at {args.peer_python}"}
        return run_datatrove(corpus, work, args.peer_python, args.workers)
    cmd = [
        sys.executable,
        __file__,
        "--child",
        tool,
        "--corpus",
        str(corpus),
        "--work",
        str(work),
        "--threshold",
        str(args.threshold),
        "--workers",
        str(args.workers),
    ]
    return _timed(cmd, lambda: set(json.loads((work / f"{tool}_removed.json").read_text())))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=20.0)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--peers", default="datasketch,datatrove")
    ap.add_argument(
        "--subset-peers",
        default="datasketch",
        help="peers too slow for the whole corpus: run on a random subset of whole families",
    )
    ap.add_argument("--subset-mb", type=float, default=20.0, help="size of that subset")
    ap.add_argument(
        "--peer-python",
        default=sys.executable,
        help="python with datatrove installed (default: this one; `pip install -e .[bench]`)",
    )
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument(
        "--e2e-mb",
        type=float,
        default=None,
        help="only the end-to-end row: `corpusforge dedup` on one JSONL file of this size",
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.corpus, args.work, args.threshold, args.workers)
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="dedup-bench-"))
    if args.e2e_mb:
        end_to_end(work, args.e2e_mb, args.threshold, args.workers)
        return
    corpus = work / "corpus"
    t0 = time.perf_counter()
    info = build_corpus(corpus, args.size_mb, args.shards)
    truth = {"full": (info, *ground_truth(corpus, args.threshold))}
    required = truth["full"][3]
    print(
        f"corpus: {info['documents']} documents, {info['bytes'] / 1e6:.1f} MB, "
        f"{len(required)} removals required at J >= {args.threshold} "
        f"(built + ground truth in {time.perf_counter() - t0:.0f}s), {args.workers} workers, "
        f"{os.cpu_count()} CPUs, load average before the runs {os.getloadavg()[0]:.1f}"
    )
    # numba compiles the kernels once per install and caches them on disk; do that untimed,
    # as an installed corpusforge would have done it already
    subprocess.run([sys.executable, "-c", WARM_KERNELS], check=True, cwd=ROOT)
    subset_peers = {p for p in args.subset_peers.split(",") if p}
    results, labels = {}, {}
    for tool in ["corpusforge"] + [p for p in args.peers.split(",") if p]:
        on_subset = tool in subset_peers and args.subset_mb < info["bytes"] / 1e6
        if on_subset and "subset" not in truth:
            sub = work / "subset"
            sub_info = subset_corpus(corpus, sub, args.subset_mb, max(1, args.shards // 4))
            truth["subset"] = (sub_info, *ground_truth(sub, args.threshold))
            print(
                f"subset for {', '.join(sorted(subset_peers))}: {sub_info['documents']} "
                f"documents, {sub_info['bytes'] / 1e6:.1f} MB (whole families drawn at random, "
                f"seed 1), {len(truth['subset'][3])} removals required"
            )
        key = "subset" if on_subset else "full"
        results[tool] = run_tool(tool, corpus if key == "full" else work / key, work, args)
        labels[tool] = (
            f"{tool} (random {truth[key][0]['bytes'] / 1e6:.0f} MB subset)" if on_subset else tool
        )
        results[tool]["truth"] = key
    for r in results.values():
        if "error" in r:
            continue
        t_info, sims, ids, t_required = truth[r["truth"]]
        mb = t_info["bytes"] / 1e6
        s = score(r["removed"], ids, sims, t_required, args.threshold)
        r.update(s, mbps=mb / r["seconds"], docs_per_s=t_info["documents"] / r["seconds"])
    fastest_peer = max(
        (r["mbps"] for t, r in results.items() if t != "corpusforge" and "mbps" in r), default=None
    )
    print("\n| tool | removed | precision | recall | MB/s | docs/s | peak MB | vs fastest peer |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for tool, r in results.items():
        if "error" in r:
            print(f"| {labels[tool]} | could not run: {r['error']} | | | | | | |")
            continue
        ratio = f"{r['mbps'] / fastest_peer:.1f}x" if fastest_peer else "-"
        print(
            f"| {labels[tool]} | {r['removed']} | {r['precision']:.3f} | {r['recall']:.3f} | "
            f"{r['mbps']:.1f} | {r['docs_per_s']:.0f} | {r['peak_mb']} | {ratio} |"
        )
    print(
        f"\ncorpusforge signatures + band keys: "
        f"{_signature_bytes_per_doc(work, info['documents']):.0f} bytes/document; "
        f"load average after the runs {os.getloadavg()[0]:.1f}; work dir {work}"
    )


if __name__ == "__main__":
    main()
