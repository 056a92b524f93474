"""Dedup benchmark: a corpus with a known answer, exact ground truth, corpusforge vs peers.

    .venv/bin/python benchmarks/dedup.py --size-mb 20           # quick
    .venv/bin/python benchmarks/dedup.py --size-mb 200          # the table in docs/dedup.md

The corpus is built from sentences of real English text (the Gutenberg books in
../shared/fixtures when present), cut into documents of log-normal length; then exact copies
(re-cased, re-spaced) and near copies at controlled word-edit rates are planted. Ground truth
is the exact 5-gram Jaccard (the normalisation of docs/dedup.md) of every pair inside a
family (an original and its copies; documents of different families share no planted text).
A removed document is right when a document the tool kept is a true >= threshold duplicate
of it; recall is right removals over the removals the rule requires (greedy, input order).

Each tool runs in its own process on the same Parquet shards; peak memory is that process
tree's largest resident set. Peers: datasketch used plainly (MinHash.update per shingle,
MinHashLSH query-then-insert), datatrove's MinHash stages 1-4 (local executor, in the
separate venv given by --peer-python, since it is not a project dependency).
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/ holds scripts named like stdlib modules (tokenize.py): keep it off sys.path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import os
import random
import re
import resource
import subprocess
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
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
    from pipeline.dedup.shingles import normalize_for_dedup

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
    from pipeline.dedup import DedupConfig, run_dedup_local

    out = work / "corpusforge"
    run_dedup_local(
        corpus, out, DedupConfig(threshold=threshold), work_root=work / "cf-work", workers=workers
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


DATATROVE_SCRIPT = r"""
import sys, json
from pathlib import Path
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupSignature,
    MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter)
from datatrove.pipeline.writers import JsonlWriter
corpus, work, workers = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
n = len(list(Path(corpus).glob("part-*.parquet")))
cfg = MinhashConfig()
reader = ParquetReader(corpus, id_key="id", text_key="text")
LocalPipelineExecutor([reader, MinhashDedupSignature(output_folder=f"{work}/sigs", config=cfg)],
                      tasks=n, workers=workers, logging_dir=f"{work}/l1").run()
LocalPipelineExecutor([MinhashDedupBuckets(input_folder=f"{work}/sigs",
                      output_folder=f"{work}/buckets", config=cfg)],
                      tasks=cfg.num_buckets, workers=workers, logging_dir=f"{work}/l2").run()
LocalPipelineExecutor([MinhashDedupCluster(input_folder=f"{work}/buckets",
                      output_folder=f"{work}/remove_ids", config=cfg)],
                      tasks=1, logging_dir=f"{work}/l3").run()
LocalPipelineExecutor([reader, MinhashDedupFilter(input_folder=f"{work}/remove_ids",
                      exclusion_writer=JsonlWriter(f"{work}/removed", compression=None)),
                      JsonlWriter(f"{work}/kept", compression=None)],
                      tasks=n, workers=workers, logging_dir=f"{work}/l4").run()
removed = [json.loads(l)["id"] for p in Path(f"{work}/removed").glob("*.jsonl") for l in open(p)]
Path(f"{work}/removed_ids.json").write_text(json.dumps(removed))
"""


def run_datatrove(corpus: Path, work: Path, peer_python: str, workers: int) -> dict:
    d = work / "datatrove"
    script = work / "datatrove_run.py"
    script.write_text(DATATROVE_SCRIPT)
    cmd = [peer_python, str(script), str(corpus), str(d), str(workers)]
    return _timed(cmd, lambda: set(json.loads((d / "removed_ids.json").read_text())))


def _timed(cmd: list[str], read_removed) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    info = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
    return {
        "seconds": info.get("seconds", wall),
        "peak_mb": info.get("peak_mb"),
        "removed": read_removed(),
    }


def _child(tool: str, corpus: Path, work: Path, threshold: float, workers: int) -> None:
    t0 = time.perf_counter()
    removed = {"corpusforge": tool_corpusforge, "datasketch": tool_datasketch}[tool](
        corpus, work, threshold, workers
    )
    seconds = time.perf_counter() - t0
    (work / f"{tool}_removed.json").write_text(json.dumps(sorted(removed)))
    peak = (
        max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        / 1024
    )
    print(json.dumps({"seconds": seconds, "peak_mb": round(peak, 1)}))


def _signature_bytes_per_doc(work: Path, docs: int) -> float:
    files = [
        p for p in (work / "cf-work").rglob("*.npy") if p.name in ("signatures.npy", "bands.npy")
    ]
    return sum(p.stat().st_size for p in files) / max(docs, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=20.0)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--peers", default="datasketch,datatrove")
    ap.add_argument(
        "--peer-python",
        default=sys.executable,
        help="python with datatrove installed (default: this one; `pip install -e .[bench]`)",
    )
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.corpus, args.work, args.threshold, args.workers)
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="dedup-bench-"))
    corpus = work / "corpus"
    t0 = time.perf_counter()
    info = build_corpus(corpus, args.size_mb, args.shards)
    sims, ids, required = ground_truth(corpus, args.threshold)
    print(
        f"corpus: {info['documents']} documents, {info['bytes'] / 1e6:.1f} MB, "
        f"{len(required)} removals required at J >= {args.threshold} "
        f"(built + ground truth in {time.perf_counter() - t0:.0f}s), {args.workers} workers, "
        f"{os.cpu_count()} CPUs"
    )
    results = {}
    for tool in ["corpusforge"] + [p for p in args.peers.split(",") if p]:
        if tool == "datatrove":
            if not Path(args.peer_python).exists():
                results[tool] = {"error": f"no peer venv at {args.peer_python}"}
                continue
            results[tool] = run_datatrove(corpus, work, args.peer_python, args.workers)
            continue
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
        results[tool] = _timed(
            cmd, lambda t=tool: set(json.loads((work / f"{t}_removed.json").read_text()))
        )
    mb = info["bytes"] / 1e6
    for r in results.values():
        if "error" in r:
            continue
        s = score(r["removed"], ids, sims, required, args.threshold)
        r.update(s, mbps=mb / r["seconds"], docs_per_s=info["documents"] / r["seconds"])
    fastest_peer = max(
        (r["mbps"] for t, r in results.items() if t != "corpusforge" and "mbps" in r), default=None
    )
    print("\n| tool | removed | precision | recall | MB/s | docs/s | peak MB | vs fastest peer |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for tool, r in results.items():
        if "error" in r:
            print(f"| {tool} | could not run: {r['error']} | | | | | | |")
            continue
        ratio = f"{r['mbps'] / fastest_peer:.1f}x" if fastest_peer else "-"
        print(
            f"| {tool} | {r['removed']} | {r['precision']:.3f} | {r['recall']:.3f} | "
            f"{r['mbps']:.1f} | {r['docs_per_s']:.0f} | {r['peak_mb']} | {ratio} |"
        )
    print(
        f"\ncorpusforge signatures + band keys: "
        f"{_signature_bytes_per_doc(work, info['documents']):.0f} bytes/document; work dir {work}"
    )


if __name__ == "__main__":
    main()
