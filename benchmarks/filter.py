"""Filter benchmark: corpusforge's filter set vs datatrove's filters on the same documents.

    .venv/bin/python benchmarks/filter.py [--scale 4] [--repeat 3] [--workers 2]

Corpora: the project's generated web corpus (`corpusforge.demo.write_sample`, web WARCs only,
ingested) and the real WARC fixtures in ../shared/fixtures/web/ (ingested; skipped if absent).
For each: documents/s and MB/s of the whole web filter set (language ID + Gopher repetition +
Gopher quality + C4 + FineWeb) on `--workers` processes, against datatrove's
GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter and FineWebQualityFilter behind
the same CLD2 language step (datatrove's LanguageFilter needs a fastText model download), in the
same run, best of `--repeat` rounds; then the keep/remove agreement of each rule set with its
datatrove counterpart, each applied alone to every document. Last, language-ID accuracy and
speed of CLD2, lingua and py3langid on a labeled set (benchmarks/filter_langid_data.py).
Needs the `bench` extra (datatrove, lingua-language-detector, py3langid).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

from filter_langid_data import labeled  # beside this script

from corpusforge.pipeline.documents import read_table
from corpusforge.pipeline.filter.engine import DocumentFilter
from corpusforge.pipeline.filter.langid import Cld2Identifier
from corpusforge.pipeline.filter.rules import (
    C4Quality,
    FineWebQuality,
    GopherQuality,
    GopherRepetition,
    GopherRepetitionConfig,
)
from corpusforge.pipeline.filter.text import TextView

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "web"


def load_corpora(scale: int, tmp: Path) -> dict[str, list[str]]:
    from corpusforge.demo import write_sample
    from corpusforge.pipeline.ingest.stage import ingest_job
    from corpusforge.pipeline.stage import run_local

    corpora = {}
    sample = tmp / "sample"
    write_sample(sample, seed=0, scale=scale)
    run_local(ingest_job([str(sample / "web")], tmp / "gen", cache_root=tmp / "c1"))
    corpora["generated web"] = [r["text"] for r in read_table(tmp / "gen").to_pylist()]
    warcs = sorted(FIXTURES.glob("*.warc.gz"))
    if warcs:
        run_local(ingest_job([str(w) for w in warcs], tmp / "warc", cache_root=tmp / "c2"))
        corpora["real WARC fixtures"] = [r["text"] for r in read_table(tmp / "warc").to_pylist()]
    else:
        print(f"(no WARC fixtures at {FIXTURES}: skipped)")
    return corpora


# ---- throughput ---------------------------------------------------------------------------

_STATE: dict[str, object] = {}


def _ours(texts: list[str]) -> int:
    if "ours" not in _STATE:
        _STATE["ours"] = DocumentFilter()
    f = _STATE["ours"]
    return sum(f.apply(t, "web").kept for t in texts)


def _datatrove_filters():
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    return [
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(),
        FineWebQualityFilter(),
    ]


def _theirs(texts: list[str]) -> int:
    from datatrove.data import Document

    if "dt" not in _STATE:
        _STATE["dt"] = _datatrove_filters()
        _STATE["cld2"] = Cld2Identifier()
    filters, lang = _STATE["dt"], _STATE["cld2"]
    kept = 0
    for i, t in enumerate(texts):
        code, score = lang.identify(t[:20_000])
        if code != "en" or score < 0.65:
            continue
        doc = Document(text=t, id=str(i))
        if all(f.filter(doc) is True for f in filters):  # C4 edits doc.text, as in a pipeline
            kept += 1
    return kept


def _warm(_: int) -> None:
    _ours(["warm up the filters with one ordinary sentence of English text."])
    _theirs(["warm up the filters with one ordinary sentence of English text."])


def throughput(pool, fn, texts: list[str], workers: int, repeat: int) -> tuple[float, int]:
    chunks = [texts[i :: workers * 4] for i in range(workers * 4)]
    best, kept = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        kept = sum(pool.map(fn, chunks))
        best = min(best, time.perf_counter() - t0)
    return best, kept


# ---- agreement ----------------------------------------------------------------------------


def agreement(texts: list[str]) -> list[dict]:
    from datatrove.data import Document

    mine = [GopherRepetition(), GopherQuality(), C4Quality(), FineWebQuality()]
    peers = _datatrove_filters()
    pairs = list(zip(mine, peers, strict=True))
    # the one deliberate difference, measured both ways: datatrove's definition counts a top
    # n-gram that occurs once (see GopherRepetition's docstring)
    exact = GopherRepetition(GopherRepetitionConfig(top_ngram_min_count=1))
    exact.name = "gopher_repetition (top_ngram_min_count=1)"
    pairs.insert(1, (exact, peers[0]))
    rows = []
    for ours, theirs in pairs:
        same = removed_ours = removed_theirs = 0
        for i, t in enumerate(texts):
            a = ours.apply(TextView(t)).removal is None if t.strip() else False
            try:
                b = theirs.filter(Document(text=t, id=str(i))) is True
            except Exception:
                b = False
            same += a == b
            removed_ours += not a
            removed_theirs += not b
        rows.append(
            {
                "filter": ours.name,
                "agree": f"{100 * same / max(len(texts), 1):.1f}%",
                "removed (ours)": removed_ours,
                "removed (datatrove)": removed_theirs,
            }
        )
    return rows


# ---- language ID --------------------------------------------------------------------------


def langid_rows(seed: int) -> list[dict]:
    import py3langid
    from lingua import LanguageDetectorBuilder

    cld2 = Cld2Identifier()
    lingua = LanguageDetectorBuilder.from_all_languages().build()

    def lingua_id(t: str) -> str:
        lang = lingua.detect_language_of(t)
        return lang.iso_code_639_1.name.lower() if lang else "und"

    systems = {
        "cld2 (pycld2)": lambda t: cld2.identify(t)[0],
        "lingua": lingua_id,
        "py3langid": lambda t: py3langid.classify(t)[0],
    }
    data = labeled(seed)
    rows = []
    for name, fn in systems.items():
        for _, _, text in data:  # untimed pass: lingua loads each language's model lazily
            fn(text)
        t0 = time.perf_counter()
        guesses = [fn(text) for _, _, text in data]
        seconds = time.perf_counter() - t0
        row = {"identifier": name}
        for kind in ("fragment", "short", "long"):
            hits = [g == lang for (lang, k, _), g in zip(data, guesses, strict=True) if k == kind]
            row[f"accuracy {kind}"] = f"{100 * sum(hits) / len(hits):.1f}% ({len(hits)})"
        over = [g == lang for (lang, _, t), g in zip(data, guesses, strict=True) if len(t) > 200]
        row["accuracy >200 chars"] = f"{100 * sum(over) / len(over):.1f}%"
        row["docs/s"] = f"{len(data) / seconds:,.0f}"
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=4, help="generated corpus scale")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("CORPUSFORGE_WORKSPACE", tempfile.mkdtemp(prefix="cf-bench-ws-"))
    with tempfile.TemporaryDirectory(prefix="cf-bench-filter-") as tmp:
        corpora = load_corpora(args.scale, Path(tmp))
    speed, agree = [], []
    with get_context("fork").Pool(args.workers) as pool:
        pool.map(_warm, range(args.workers * 2))
        for name, texts in corpora.items():
            mb = sum(len(t.encode()) for t in texts) / 1e6
            ours_s, ours_kept = throughput(pool, _ours, texts, args.workers, args.repeat)
            dt_s, dt_kept = throughput(pool, _theirs, texts, args.workers, args.repeat)
            for tool, s, kept in (("corpusforge", ours_s, ours_kept), ("datatrove", dt_s, dt_kept)):
                speed.append(
                    {
                        "corpus": f"{name} ({len(texts)} docs, {mb:.1f} MB)",
                        "tool": tool,
                        "docs/s": f"{len(texts) / s:,.0f}",
                        "MB/s": f"{mb / s:.2f}",
                        "kept": kept,
                        "speed-up": f"{dt_s / s:.1f}x" if tool == "corpusforge" else "1.0x",
                    }
                )
            agree += [{"corpus": name, **r} for r in agreement(texts)]
    print(f"## Throughput ({args.workers} worker processes, best of {args.repeat})\n")
    print(table(speed))
    print("\n## Decision agreement with datatrove, per filter (each alone, every document)\n")
    print(table(agree))
    print("\n## Language identification (labeled set, benchmarks/filter_langid_data.py)\n")
    print(table(langid_rows(args.seed)))


if __name__ == "__main__":
    main()
