"""Tokenize benchmark: end-to-end tokens/s (Parquet -> encode -> shards) vs raw encode_batch.

    /work/main/.venv/bin/python benchmarks/tokenize_stage.py            # 200 MB of text
    /work/main/.venv/bin/python benchmarks/tokenize_stage.py --quick    # 20 MB

Both sides use the same tokenizer, text, cores and machine in the same run. The raw side is
`Tokenizer.encode_batch` / `encode_batch_fast` on texts already in memory, with the tokenizers
thread pool on every core; the end-to-end side is `tokenize_job` on `run_local` with one worker
process per core. Also prints bytes per token of a 32k tokenizer on the real-format fixture corpus.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

os.environ["TOKENIZERS_PARALLELISM"] = "true"


def make_corpus(path: Path, megabytes: int, shards: int) -> int:
    """Zipf-distributed words with some multi-script text, as Parquet document shards."""
    from corpusforge.pipeline.documents import ShardWriter

    rng = random.Random(0)
    syll = ["ka", "ri", "to", "men", "sa", "lo", "ver", "an", "di", "que", "ston", "el", "bor"]
    vocab = ["".join(rng.choice(syll) for _ in range(rng.randint(1, 4))) for _ in range(20_000)]
    weights = [1 / (i + 1) for i in range(len(vocab))]
    extra = ["東京の天気は晴れです。", "مرحبا بالعالم", "🎉👍", "3.14", "2024-05-01", "<|person|>"]
    target = megabytes * 1_000_000
    per_shard = target // shards
    total = 0
    for s in range(shards):
        rows, size = [], 0
        while size < per_shard:
            words = rng.choices(vocab, weights, k=rng.randint(100, 1500))
            words += rng.choices(extra, k=len(words) // 50)
            rng.shuffle(words)
            text = " ".join(words)
            rows.append({"id": f"d{s}-{len(rows)}", "text": text, "source": "web"})
            size += len(text.encode())
        with ShardWriter(path, rows_per_shard=10**9, first_index=s) as w:
            w.write_rows(rows)
        total += size
    return total


def raw_encode(tokenizer_json: Path, corpus: Path) -> dict[str, float]:
    import pyarrow.parquet as pq
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    texts = [
        t for f in sorted(corpus.glob("*.parquet")) for t in pq.read_table(f)["text"].to_pylist()
    ]
    out = {}
    for name in ("encode_batch", "encode_batch_fast"):
        fn = getattr(tok, name)
        t0 = time.perf_counter()
        tokens = 0
        for i in range(0, len(texts), 1024):
            tokens += sum(len(e.ids) for e in fn(texts[i : i + 1024], add_special_tokens=False))
        out[name] = tokens / (time.perf_counter() - t0)
    return out


def demo_bytes_per_token(work: Path) -> str:
    from corpusforge.pipeline.ingest.stage import ingest_job
    from corpusforge.pipeline.stage import run_local
    from corpusforge.pipeline.tokenize import TokenizeConfig, tokenize_job

    fixtures = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
    if not fixtures.is_dir():
        return "fixtures not found"
    docs = work / "fixture-docs"
    run_local(ingest_job([fixtures], docs, cache_root=work / "ingest-cache"), workers=1)
    m = run_local(tokenize_job(docs, work / "fixture-tokens", TokenizeConfig(val_fraction=0.0)))
    return (
        f"{m['bytes_per_token']} bytes/token (vocab {m['tokenizer']['vocab_size']}, "
        f"{m['counts']['in']} documents, {sum(s['text_bytes'] for s in m['by_source'].values()):,}"
        " bytes)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="20 MB instead")
    ap.add_argument("--vocab-size", type=int, default=32_768)
    ap.add_argument("--shards", type=int, default=8)
    args = ap.parse_args()
    size = 20 if args.quick else args.size_mb
    from corpusforge.pipeline.stage import run_local
    from corpusforge.pipeline.tokenize import TokenizeConfig, tokenize_job

    work = Path(tempfile.mkdtemp(prefix="tokenize-bench-"))
    try:
        nbytes = make_corpus(work / "docs", size, args.shards)
        cores = os.cpu_count()
        print(f"corpus: {nbytes / 1e6:.0f} MB in {args.shards} Parquet shards; {cores} cores")
        t0 = time.perf_counter()
        cfg = TokenizeConfig(vocab_size=args.vocab_size, train_sample_bytes=20_000_000)
        m = run_local(tokenize_job(work / "docs", work / "trained", cfg, allow_incomplete=True))
        print(f"tokenizer training (20 MB sample) + encode: {time.perf_counter() - t0:.1f} s")
        tok_dir = work / "trained" / "tokenizer"
        cfg = TokenizeConfig(tokenizer_dir=str(tok_dir))
        t0 = time.perf_counter()
        m = run_local(
            tokenize_job(
                work / "docs",
                work / "e2e",
                cfg,
                cache_root=work / "e2e-cache",
                allow_incomplete=True,
            )
        )
        e2e_s = time.perf_counter() - t0
        tokens = m["splits"]["train"]["tokens"] + m["splits"]["val"]["tokens"]
        text_tokens = tokens - m["counts"]["out"]  # without the appended end-of-text ids
        e2e = text_tokens / e2e_s
        raw = raw_encode(tok_dir / "tokenizer.json", work / "docs")
        print(
            f"end to end (read Parquet -> encode -> write shards): {e2e:,.0f} tokens/s "
            f"({nbytes / e2e_s / 1e6:.1f} MB/s, {e2e_s:.1f} s, {len(m['outputs'])} shards)"
        )
        for name, rate in raw.items():
            print(
                f"raw {name} ({cores} threads, texts in memory): {rate:,.0f} tokens/s "
                f"-> ratio end-to-end / raw = {e2e / rate:.2f}"
            )
        print(f"bytes per token (synthetic corpus): {m['bytes_per_token']}")
        print(f"bytes per token (fixture corpus, own 32k tokenizer): {demo_bytes_per_token(work)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
