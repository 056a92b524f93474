"""The nightly-prepare deployment over a drop folder, night after night.

Each night runs `corpus-to-model` with the deployment's own parameters. New files are
processed, files already done are not, and a document that arrives again (verbatim or
lightly edited) in a later file is removed against the earlier nights' dedup index.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow.parquet as pq

from corpusforge.flows.pipeline import corpus_to_model
from corpusforge.flows.pipeline_config import PipelineConfig
from corpusforge.flows.pipeline_deployments import build_deployments
from corpusforge.pipeline.documents import read_table
from corpusforge.pipeline.manifest import read_manifest

WORDS = (
    "river stone market winter lantern harbor garden copper meadow signal orchard canvas "
    "thunder velvet compass island mirror anchor bridge candle forest glacier marble pepper "
    "saddle timber violet walnut yellow zephyr basket cactus dragon ember falcon granite"
).split()


def _article(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(160)) + "."


NO_FILTER = ["ingest", "dedup", "pii", "tokenize", "pretrain", "finetune"]


def _write_jsonl(path: Path, texts: list[str]) -> None:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))


def _nightly_config(drop: Path, out: Path) -> PipelineConfig:
    sft = out.parent / "sft.jsonl"  # the full pipeline's config needs it; nightly never trains
    sft.write_text('{"prompt": "p", "response": "r"}\n')
    base = PipelineConfig(
        name="nightly-test",
        # the stages these tests are about; the filter's rules would rightly remove the
        # generated word salad (no stop words), which is not what is tested here
        stages=NO_FILTER,
        inputs=[str(drop)],
        output=str(out),
        task_runner="threads",
        pii={"mode": "fast"},
        tokenize={"vocab_size": 512},
        finetune={"data": str(sft)},
    )
    nightly = {d.name: d for d in build_deployments(base, drop_folder=str(drop))}["nightly-prepare"]
    return PipelineConfig.model_validate(nightly.parameters["config"])


def _batch_dir(result: dict) -> Path:
    return Path(result["output"])


def test_nightly_prepare_takes_only_new_files_and_dedups_against_earlier_nights(
    prefect_harness, tmp_path
):
    rng = random.Random(7)
    drop, out = tmp_path / "drop", tmp_path / "out"
    drop.mkdir()
    night1 = [_article(rng) for _ in range(6)]
    _write_jsonl(drop / "crawl-1.jsonl", night1)
    config = _nightly_config(drop, out)
    assert config.incremental and config.stages == ["ingest", "dedup", "pii", "tokenize"]

    first = corpus_to_model(config)
    batch1 = _batch_dir(first)
    assert {r["status"] for r in first["stages"].values()} == {"ran"}
    kept1 = read_table(batch1 / "dedup", columns=["id"])["id"].to_pylist()
    assert len(kept1) == 6

    # Night 2: two new articles, one verbatim repeat and one with a single word changed.
    words = night1[1].split()
    words[40] = "quartz"
    night2 = [_article(rng), _article(rng), night1[0], " ".join(words)]
    _write_jsonl(drop / "crawl-2.jsonl", night2)
    second = corpus_to_model(config)
    batch2 = _batch_dir(second)
    assert batch2 != batch1

    ingest2 = read_manifest(batch2 / "documents")
    assert ingest2["counts"]["out"] == 4  # only the new file was ingested
    kept2 = read_table(batch2 / "dedup", columns=["id", "text"])
    assert sorted(kept2["text"].to_pylist()) == sorted(night2[:2])
    clusters = pq.read_table(batch2 / "dedup" / "clusters.parquet").to_pylist()
    removed = [c for c in clusters if not c["kept"]]
    assert len(removed) == 2
    assert {c["similar_to"] for c in removed} <= set(kept1)  # matched to night 1's documents
    assert read_manifest(batch2 / "tokens")["counts"]["in"] == 2  # only the kept new documents

    ledger = [json.loads(x) for x in (out / "ingested.jsonl").read_text().splitlines()]
    assert [Path(e["path"]).name for e in ledger] == ["crawl-1.jsonl", "crawl-2.jsonl"]
    assert len({e["batch"] for e in ledger}) == 2

    # Night 3: nothing new in the drop folder, so nothing runs.
    third = corpus_to_model(config)
    assert third["stages"] == {}


def test_retrain_trains_on_every_nightly_batch_with_the_mixture(
    prefect_harness, workspace, tmp_path, monkeypatch
):
    """Two nights of new files (the second adds a new source), then the retrain deployment:
    it tokenizes the union of both batches once, with the mixture over the whole corpus
    (night 1 alone lacks `books`, so a per-batch mixture could not be met), and trains on it."""
    from corpusforge.model.store import bootstrap_store

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("CORPUSFORGE_TOKEN", bootstrap_store(workspace.root)["svc:trainer"])
    rng = random.Random(11)
    drop, out = tmp_path / "drop", tmp_path / "out"
    drop.mkdir()
    sft = tmp_path / "sft.jsonl"
    sft.write_text(
        "".join(
            json.dumps({"prompt": f"Count to {i}.", "response": " ".join(map(str, range(i)))})
            + "\n"
            for i in range(1, 11)
        )
    )
    train = dict(preset="tiny", seq_len=32, micro_batch_size=2, warmup_steps=0, log_every=1)
    train |= dict(max_steps=2, eval_every=2, checkpoint_every=2, eval_batches=1)
    base = PipelineConfig(
        name="retrain-test",
        stages=NO_FILTER,
        inputs=[str(drop)],
        output=str(out),
        task_runner="threads",
        pii={"mode": "fast"},
        tokenize={"vocab_size": 512, "val_fraction": 0.3, "mixture": {"dataset": 1, "books": 1}},
        pretrain={**train, "run_name": "pre"},
        finetune={**train, "run_name": "ft", "data": str(sft), "val_fraction": 0.2},
    )
    deployments = {d.name: d for d in build_deployments(base, drop_folder=str(drop))}
    nightly = PipelineConfig.model_validate(deployments["nightly-prepare"].parameters["config"])
    retrain = PipelineConfig.model_validate(deployments["retrain"].parameters["config"])
    assert retrain.stages == ["pretrain", "finetune"] and retrain.incremental

    _write_jsonl(drop / "crawl-1.jsonl", [_article(rng) for _ in range(8)])
    night1 = corpus_to_model(nightly)
    book = "\n\n".join(_article(rng) for _ in range(6))
    (drop / "novel.txt").write_text(
        "The Project Gutenberg eBook of A Test Novel\n\n"
        "*** START OF THE PROJECT GUTENBERG EBOOK A TEST NOVEL ***\n\n"
        f"{book}\n\n*** END OF THE PROJECT GUTENBERG EBOOK A TEST NOVEL ***\n"
    )
    _write_jsonl(drop / "crawl-2.jsonl", [_article(rng) for _ in range(4)])
    night2 = corpus_to_model(nightly)
    batches = [Path(night1["output"]).name, Path(night2["output"]).name]
    assert batches[0] != batches[1]

    result = corpus_to_model(retrain)
    corpus = out / "corpus"
    assert Path(result["output"]) == corpus
    assert list(result["stages"]) == ["tokenize", "pretrain", "finetune"]
    union = read_manifest(corpus / "pii")
    assert union["batches"] == batches
    kept = sum(read_manifest(out / "batches" / b / "pii")["counts"]["out"] for b in batches)
    assert union["counts"]["out"] == kept == 8 + 4 + 1
    tokens = read_manifest(corpus / "tokens")
    assert tokens["counts"]["in"] == kept
    assert tokens["mixture"]["weights"] == {"books": 0.5, "dataset": 0.5}
    assert set(tokens["by_source"]) == {"books", "dataset"}
    pre = read_manifest(corpus / "pretrain")
    assert pre["counts"]["steps"] == 2 and pre["checkpoint"].startswith("runs/pre-c")
    assert read_manifest(corpus / "finetune")["counts"]["steps"] == 2
    job = json.loads((corpus / "pretrain" / "config.json").read_text())
    assert job["data"] == str(corpus / "tokens")
    assert (corpus / "tokenizer" / "tokenizer.json").is_file()  # pinned for later batches

    # Nothing new: training is skipped by fingerprint. Tokenize runs once more, now with the
    # pinned tokenizer in its config (the same vocabulary, so the token shards are unchanged);
    # after that it is skipped too.
    again = corpus_to_model(retrain)
    assert {again["stages"][s]["status"] for s in ("pretrain", "finetune")} == {"skipped"}
    retok = read_manifest(corpus / "tokens")
    assert retok["tokenizer"]["vocab_size"] == tokens["tokenizer"]["vocab_size"]
    assert retok["outputs"] == tokens["outputs"]
    third = corpus_to_model(retrain)
    assert {r["status"] for r in third["stages"].values()} == {"skipped"}
