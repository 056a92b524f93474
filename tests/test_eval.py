"""`corpusforge eval`: perplexity per source, lm-eval on local task files, access control,
the private temporary folder, and the records (audit, lineage, report, artifact)."""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

import absl.logging
import numpy as np
import pytest
import torch

from corpusforge.core.errors import AccessDenied, InputError
from corpusforge.core.hashing import sha256_file
from corpusforge.model.checkpoint import LocalCheckpoint, load_model
from corpusforge.model.evaluate import (
    EvalConfig,
    combined_sha256,
    evaluate_checkpoint,
    prepare_tasks,
    score_sequences,
)
from corpusforge.model.pretrain import pretrain
from tests._eval_helpers import FACTS, write_task_files
from tests._train_helpers import (  # noqa: F401 (one_torch_thread: autouse)
    book_paragraphs,
    one_torch_thread,
    tiny_config,
    token_shards,
)

# The harness's TruthfulQA scoring imports rouge_score, which imports absl. absl's log handler
# keeps the stderr of the moment it was imported (here: pytest's capture) and closes it when
# logging is reconfigured while sys.stderr is another stream (Prefect's dictConfig under the
# CLI runner), which breaks pytest's capture for the rest of the session. Give it the process's
# own stderr, which it never closes.
absl.logging.get_absl_handler().python_handler.stream = sys.__stderr__

NAME = "runs/base/step-0000004"
SECRET = "runs/secret/step-0000004"


@pytest.fixture(scope="module")
def env(fixtures_dir, tmp_path_factory):
    """A workspace whose store holds a tiny model (internal) and a copy of it trained on
    unscrubbed data (restricted), an evaluator with internal clearance, and task files."""
    from corpusforge.model.store import bootstrap_store, open_store

    root = tmp_path_factory.mktemp("eval")
    ws = root / "ws"
    shards = token_shards(book_paragraphs(fixtures_dir, limit_chars=120_000), root / "shards")
    tokens = bootstrap_store(ws)
    trainer = open_store(ws, tokens["svc:trainer"])
    config = tiny_config(
        root,
        data=str(shards),
        run_name="base",
        max_steps=4,
        checkpoint_every=4,
        eval_every=4,
        checkpoint_metadata={"pii_scrubbed": True},
    )
    pretrain(config, trainer)
    with LocalCheckpoint(trainer, NAME) as path:
        trainer.put_checkpoint(SECRET, path, {"run": "secret"})  # no recorded scrub: restricted
    admin = open_store(ws, tokens["user:admin"])
    admin.add_principal("user:eve", ["evaluator"], "internal")
    evaluator_token = admin.issue_token("user:eve")
    docs = root / "docs.jsonl"
    paragraphs = book_paragraphs(fixtures_dir, limit_chars=20_000)
    docs.write_text(
        "".join(
            json.dumps({"id": f"d{i}", "text": p, "source": "web" if i % 2 else "books"}) + "\n"
            for i, p in enumerate(paragraphs[:12])
        )
    )
    return {
        "ws": ws,
        "shards": shards,
        "docs": docs,
        "tasks": write_task_files(root / "tasks"),
        "trainer": trainer,
        "evaluator": open_store(ws, evaluator_token),
        "evaluator_token": evaluator_token,
    }


def _log(env):
    from corpusforge.core.audit import AuditLog
    from corpusforge.core.workspace import Workspace

    return AuditLog.for_workspace(Workspace.resolve(env["ws"]))


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Every temporary folder of the evaluation goes here, so the test can see what is left."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_score_sequences_matches_the_models_own_loss(env):
    with LocalCheckpoint(env["trainer"], NAME) as path:
        model = load_model(path)
    rng = np.random.default_rng(0)
    short = rng.integers(2, 500, size=40)
    long = rng.integers(2, 500, size=301)  # several windows of 128 (+1 overlap)
    tallies = score_sequences(
        model, [("a", short), ("b", long)], window=128, batch_size=2, max_tokens=10_000
    )
    with torch.no_grad():
        ids = torch.from_numpy(short)[None]
        expected = float(model(input_ids=ids, labels=ids).loss)
    assert tallies["a"].tokens == 39 and tallies["b"].tokens == 300
    assert tallies["a"].nll / tallies["a"].tokens == pytest.approx(expected, rel=1e-5)
    capped = score_sequences(model, [("b", long)], window=128, batch_size=4, max_tokens=100)
    assert capped["b"].tokens == 100


def test_perplexity_on_val_split_and_documents_per_source(env, private_tmp):
    config = EvalConfig(
        checkpoint=NAME,
        tokens=str(env["shards"]),
        data=[str(env["docs"])],
        max_tokens=4000,
        tasks=[],
    )
    result = evaluate_checkpoint(config, env["evaluator"])
    val, docs = result["perplexity"]["val_split"], result["perplexity"]["data0"]
    assert set(val["by_source"]) == {"books"} and val["all"]["tokens"] == 4000
    assert val["token_manifest_sha256"] == sha256_file(env["shards"] / "manifest.json")
    assert set(docs["by_source"]) == {"books", "web"}
    assert docs["by_source"]["books"]["documents"] + docs["by_source"]["web"]["documents"] == 12
    for p in (val["all"], *docs["by_source"].values()):
        assert 1 < p["perplexity"] < 600 and p["perplexity"] == pytest.approx(
            math.exp(p["loss"]), rel=1e-3
        )
    assert docs["data_sha256"] and result["tasks"] == {}
    assert list(private_tmp.iterdir()) == []  # the decrypted copy is gone


def _arc_accuracy(path: Path, rows: list[dict]) -> float:
    """The harness's arc_easy `acc`, computed here from the model itself: argmax over the
    choices of log P(" " + choice | "Question: ...\\nAnswer:")."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = load_model(path).eval()
    correct = 0
    for row in rows:
        context = f"Question: {row['question']}\nAnswer:"
        scores = []
        for choice in row["choices"]["text"]:
            whole = tok.encode(context + " " + choice, add_special_tokens=False)
            n_ctx = len(tok.encode(context, add_special_tokens=False))
            ids = torch.tensor([whole])
            with torch.no_grad():
                logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
            scores.append(float(logp[n_ctx - 1 :].gather(1, ids[0, n_ctx:, None]).sum()))
        labels = row["choices"]["label"]
        correct += int(int(np.argmax(scores)) == labels.index(row["answerKey"]))
    return correct / len(rows)


def test_lm_eval_runs_the_harness_tasks_on_local_files(env, private_tmp):
    config = EvalConfig(checkpoint=NAME, task_dir=str(env["tasks"]), batch_size=16)
    result = evaluate_checkpoint(config, env["evaluator"])
    tasks = result["tasks"]
    expected = {"hellaswag", "arc_easy", "arc_challenge", "truthfulqa_mc1", "truthfulqa_mc2"}
    assert expected | {"mmlu", "mmlu_astronomy"} <= set(tasks)
    assert tasks["hellaswag"]["version"] == 1.0 and tasks["truthfulqa_mc2"]["version"] == 3.0
    for name in expected:
        assert tasks[name]["samples"] == len(FACTS)
        assert 0 <= tasks[name]["metrics"]["acc"] <= 1
    assert tasks["mmlu_astronomy"]["samples"] == len(FACTS) - 1
    arc = env["tasks"] / "arc_easy" / "test.jsonl"
    assert tasks["arc_easy"]["data"]["data_sha256"] != tasks["arc_challenge"]["data"]["data_sha256"]
    rows = [json.loads(line) for line in arc.read_text().splitlines()]
    with LocalCheckpoint(env["trainer"], NAME) as path:
        ours = _arc_accuracy(path, rows)
    assert tasks["arc_easy"]["metrics"]["acc"] == pytest.approx(ours, abs=1e-6)
    assert list(private_tmp.iterdir()) == []


def test_missing_task_files_fail_before_anything_is_decrypted(env, tmp_path):
    root, work, work2 = tmp_path / "task-files", tmp_path / "work", tmp_path / "work2"
    (root / "mmlu" / "not_a_subject").mkdir(parents=True)
    work.mkdir()
    work2.mkdir()
    with pytest.raises(InputError, match="no local data for task.*hellaswag"):
        prepare_tasks(root, ["hellaswag"], work)
    with pytest.raises(InputError, match="not an MMLU subject"):
        prepare_tasks(root, ["mmlu"], work2)
    with pytest.raises(InputError, match="task folder not found"):
        evaluate_checkpoint(
            EvalConfig(checkpoint=NAME, task_dir=str(tmp_path / "nowhere")), env["evaluator"]
        )


def test_temporary_folder_is_removed_when_the_evaluation_fails(env, private_tmp, tmp_path):
    broken = tmp_path / "broken"
    (broken / "hellaswag").mkdir(parents=True)
    row = {"ind": 0, "endings": ["a", "b"], "label": "0"}  # no ctx_a: the harness's docs fail
    (broken / "hellaswag" / "validation.jsonl").write_text(json.dumps(row) + "\n")
    config = EvalConfig(checkpoint=NAME, task_dir=str(broken), tasks=["hellaswag"])
    with pytest.raises(KeyError):
        evaluate_checkpoint(config, env["evaluator"])
    assert list(private_tmp.iterdir()) == []
    gets = [
        e
        for e in _log(env).events(action_prefix="store.get")
        if e.object == f"checkpoint:{NAME}" and e.actor == "user:eve"
    ]
    assert gets[-1].decision == "allow"  # it failed after the checkpoint was decrypted


def _cli(env, monkeypatch, *args):
    from typer.testing import CliRunner

    from corpusforge.cli import app

    monkeypatch.setenv("CORPUSFORGE_WORKSPACE", str(env["ws"]))
    monkeypatch.setenv("CORPUSFORGE_TOKEN", env["evaluator_token"])
    monkeypatch.delenv("CORPUSFORGE_EVAL_TASKS", raising=False)
    return CliRunner().invoke(app, ["eval", *args])


def test_clearance_below_the_classification_is_refused_and_audited(
    prefect_harness, env, monkeypatch, private_tmp
):
    result = _cli(env, monkeypatch, "--checkpoint", SECRET, "--no-tokens", "--tasks", "none")
    assert isinstance(result.exception, AccessDenied)
    assert "clearance internal is below the classification restricted" in str(result.exception)
    log = _log(env)
    get = [e for e in log.events(action_prefix="store.get") if e.object == f"checkpoint:{SECRET}"]
    assert get[-1].decision == "deny" and get[-1].actor == "user:eve"
    ev = [e for e in log.events(action_prefix="eval.run") if e.object == f"checkpoint:{SECRET}"]
    assert ev[-1].decision == "deny" and ev[-1].actor == "user:eve"
    assert "below the classification" in ev[-1].details["reason"]
    assert list(private_tmp.iterdir()) == []  # nothing was decrypted


def test_cli_flow_records_scores_in_audit_lineage_report_and_artifact(
    prefect_harness, env, monkeypatch, tmp_path
):
    import anyio
    from prefect.client.orchestration import get_client

    from corpusforge.lineage import checkpoint_lineage
    from corpusforge.report import write_report

    log = _log(env)
    log.append("tokenize.run", f"dir:{env['shards']}", decision="ok")  # as the tokenize flow does
    result = _cli(
        env,
        monkeypatch,
        "--checkpoint",
        NAME,
        "--task-dir",
        str(env["tasks"]),
        "--tasks",
        "arc_easy,mmlu",
        "--data",
        str(env["docs"]),
        "--max-tokens",
        "2000",
    )
    assert result.exit_code == 0, result.output
    assert "perplexity: token shards (val split)" in result.output  # found from the lineage
    assert "arc_easy (v1.0)" in result.output and "perplexity: documents #0" in result.output
    entry = [e for e in log.events(action_prefix="eval.run") if e.decision == "ok"][-1]
    assert entry.actor == "user:eve" and entry.object == f"checkpoint:{NAME}"
    details = entry.details
    arc_sha = details["tasks"]["arc_easy"]["data_sha256"]
    assert details["tasks"]["arc_easy"]["version"] == "1.0" and len(arc_sha) == 64
    assert details["perplexity"]["val_split"]["token_manifest_sha256"] == sha256_file(
        env["shards"] / "manifest.json"
    )
    assert details["perplexity"]["data0"]["data_sha256"]
    recorded = json.dumps(entry.details)
    for question, answer, _ in FACTS:  # scores and hashes only, never task or document text
        assert question not in recorded and answer not in recorded
    lineage = checkpoint_lineage(log, NAME)
    assert lineage["evaluations"][-1]["tasks"]["mmlu"]["metrics"]["acc"] >= 0
    report = Path(write_report(log, tmp_path / "report")["markdown"]).read_text()
    assert "## Evaluations" in report and "arc_easy acc_norm (v1.0)" in report

    async def artifact_keys():
        async with get_client() as client:
            return {a.key for a in await client.read_artifacts()}

    assert "eval-runs-base-step-0000004" in anyio.run(artifact_keys)


def test_pipeline_eval_stage_scores_the_trained_checkpoints(prefect_harness, env, monkeypatch):
    from corpusforge.flows.pipeline_config import parse_config
    from corpusforge.flows.pipeline_steps import STEPS, StepContext
    from corpusforge.pipeline.manifest import StageRun, read_manifest

    monkeypatch.setenv("CORPUSFORGE_WORKSPACE", str(env["ws"]))
    monkeypatch.setenv("CORPUSFORGE_TOKEN", env["evaluator_token"])
    out = env["ws"].parent / "pipeline"
    out.mkdir(exist_ok=True)
    config = parse_config(
        {
            "inputs": [str(env["docs"])],
            "output": str(out),
            "finetune": {"data": str(env["docs"])},
            "eval": {"max_tokens": 500},
        }
    )
    assert config.selected_stages()[-1] == "eval"
    ctx = StepContext(config=config, root=config.output_root())
    with pytest.raises(Exception, match="needs a trained checkpoint"):
        STEPS["eval"].run(ctx)
    run = StageRun("pretrain", ctx.stage_dir("pretrain"), {}, inputs=[], hash_inputs=False)
    run.extra["checkpoint"] = NAME
    run.finish()
    ctx.stage_dir("tokenize").symlink_to(env["shards"])  # the tokenize stage's output
    manifest = STEPS["eval"].run(ctx)
    scored = manifest["evaluations"][NAME]["perplexity"]["val_split"]
    assert scored["tokens"] == 500 and scored["perplexity"] > 1
    assert read_manifest(ctx.stage_dir("eval"))["counts"]["checkpoints"] == 1


def test_pipeline_eval_stage_reruns_when_a_task_file_changes(
    prefect_harness, env, monkeypatch, tmp_path
):
    import shutil

    from corpusforge.flows.pipeline import _run_stage
    from corpusforge.flows.pipeline_config import parse_config
    from corpusforge.flows.pipeline_steps import StepContext
    from corpusforge.pipeline.manifest import StageRun

    monkeypatch.setenv("CORPUSFORGE_WORKSPACE", str(env["ws"]))
    monkeypatch.setenv("CORPUSFORGE_TOKEN", env["evaluator_token"])
    tasks = shutil.copytree(env["tasks"], tmp_path / "tasks")
    out = tmp_path / "pipeline"
    config = parse_config(
        {
            "inputs": [str(env["docs"])],
            "output": str(out),
            "stages": ["eval"],
            "eval": {"task_dir": str(tasks), "tasks": ["arc_easy"], "limit": 2, "max_tokens": 50},
        }
    )
    ctx = StepContext(config=config, root=config.output_root())
    run = StageRun("pretrain", ctx.stage_dir("pretrain"), {}, inputs=[], hash_inputs=False)
    run.extra["checkpoint"] = NAME
    run.finish()

    def arc_sha(info):
        return info["manifest"]["evaluations"][NAME]["tasks"]["arc_easy"]["data_sha256"]

    first = _run_stage("eval", config, force=False)
    assert first["status"] == "ran"
    again = _run_stage("eval", config, force=False)
    assert again["status"] == "skipped" and again["fingerprint"] == first["fingerprint"]
    arc = tasks / "arc_easy" / "test.jsonl"
    arc.write_text(arc.read_text().replace("What do bees make?", "What do bees produce?"))
    edited = _run_stage("eval", config, force=False)
    assert edited["status"] == "ran" and edited["fingerprint"] != first["fingerprint"]
    assert arc_sha(edited) == combined_sha256([arc], tasks) != arc_sha(first)
    assert _run_stage("eval", config, force=False)["status"] == "skipped"
    shutil.copy(arc, tasks / "arc_easy" / "train.jsonl")  # a new file: the few-shot split
    assert _run_stage("eval", config, force=False)["status"] == "ran"
