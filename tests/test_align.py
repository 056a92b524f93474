"""`corpusforge align`: preference rows, PII scrubbing of chosen and rejected, DPO through the
store (classification, lineage), LoRA, and resuming a killed run exactly."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from corpusforge.core.errors import InputError
from corpusforge.core.hashing import sha256_file
from corpusforge.model.align import AlignConfig, align, read_preferences
from corpusforge.model.checkpoint import LocalCheckpoint
from corpusforge.model.pretrain import pretrain
from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.stage import scrub_sft_jsonl
from tests._train_helpers import (  # noqa: F401 (one_torch_thread: autouse)
    book_paragraphs,
    one_torch_thread,
    tiny_config,
    token_shards,
)

BASE = "runs/base/step-0000004"
EMAIL, IP = "zelda.quartermain@example.org", "203.0.113.77"  # synthetic, as in test_pii_stage


def arithmetic_pairs(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        a, b = i % 7 + 1, (3 * i) % 5 + 2
        rows.append(
            {"prompt": f"What is {a} plus {b}?", "chosen": str(a + b), "rejected": str(a + b + 1)}
        )
    return rows


@pytest.fixture(scope="module")
def base(fixtures_dir, tmp_path_factory):
    from corpusforge.model.store import bootstrap_store, open_store

    root = tmp_path_factory.mktemp("align")
    shards = token_shards(book_paragraphs(fixtures_dir, limit_chars=100_000), root / "shards")
    tokens = bootstrap_store(root / "ws")
    store = open_store(root / "ws", tokens["svc:trainer"])
    pretrain(
        tiny_config(
            root,
            data=str(shards),
            run_name="base",
            max_steps=4,
            checkpoint_every=4,
            eval_every=4,
            checkpoint_metadata={"pii_scrubbed": True},
        ),
        store,
    )
    prefs = root / "prefs.jsonl"
    prefs.write_text("".join(json.dumps(r) + "\n" for r in arithmetic_pairs(40)))
    return {"root": root, "store": store, "prefs": prefs, "tokens": tokens}


def config(base, run: str, **overrides) -> AlignConfig:
    values = dict(
        data=str(base["prefs"]),
        init_from=BASE,
        run_name=run,
        max_steps=6,
        micro_batch_size=4,
        lr=1e-3,
        eval_every=3,
        checkpoint_every=3,
        log_every=1,
        val_fraction=0.2,
        metrics_path=str(base["root"] / f"{run}.jsonl"),
        checkpoint_metadata={"pii_scrubbed": True},
    )
    values.update(overrides)
    return AlignConfig(**values)


def test_preference_rows_in_every_format(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [
        {"prompt": "Say hi.", "chosen": "Hi!", "rejected": "No.", "system": "Be kind."},
        {"messages": [{"role": "user", "content": "Say hi."}], "chosen": "Hi!", "rejected": "No."},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    chat = read_preferences(path, chat=True)
    assert chat[0]["prompt"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Say hi."},
    ]
    assert chat[1]["chosen"] == [{"role": "assistant", "content": "Hi!"}]
    path.write_text(json.dumps(rows[0]) + "\n")
    assert read_preferences(path, chat=False)[0] == {
        "prompt": "Say hi.",
        "chosen": "Hi!",
        "rejected": "No.",
    }
    implicit = {
        "chosen": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
        "rejected": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "B"}],
    }
    path.write_text(json.dumps(implicit) + "\n")
    assert read_preferences(path, chat=True)[0] == implicit
    for bad, message in [
        ({"prompt": "secret words", "chosen": "x"}, "missing field 'rejected'"),
        ({"prompt": "secret words", "chosen": "", "rejected": "y"}, "'chosen' is empty"),
        ({"chosen": "secret words", "rejected": "y"}, "missing field 'prompt'"),
    ]:
        path.write_text(json.dumps(rows[0]) + "\n" + json.dumps(bad) + "\n")
        with pytest.raises(InputError, match=f"p.jsonl:2: {message}") as err:
            read_preferences(path, chat=True)
        assert "secret words" not in str(err.value)


def test_pii_stage_scrubs_chosen_and_rejected(tmp_path):
    src = tmp_path / "prefs.jsonl"
    rows = [
        {
            "prompt": f"Mail {EMAIL} the report.",
            "chosen": f"Sent to {EMAIL}.",
            "rejected": f"Your IP is {IP}.",
        },
        {
            "prompt": [{"role": "user", "content": f"Who is at {IP}?"}],
            "chosen": [{"role": "assistant", "content": "I cannot say."}],
            "rejected": [{"role": "assistant", "content": f"Write to {EMAIL}."}],
        },
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    stats = scrub_sft_jsonl(src, tmp_path / "out.jsonl", PiiConfig(mode="fast"))
    text = (tmp_path / "out.jsonl").read_text()
    assert EMAIL not in text and IP not in text
    out = [json.loads(line) for line in text.splitlines()]
    assert out[0] == {
        "prompt": "Mail <|email|> the report.",
        "chosen": "Sent to <|email|>.",
        "rejected": "Your IP is <|ip|>.",
    }
    assert out[1]["prompt"][0]["content"] == "Who is at <|ip|>?"
    assert out[1]["rejected"][0]["content"] == "Write to <|email|>."
    assert stats["counts"] == {"in": 2, "out": 2}


def test_dpo_checkpoints_go_through_the_store_with_lineage(base):
    store = base["store"]
    summary = align(config(base, "dpo", data_sha256="ab" * 32), store)
    assert summary["step"] == 6 and summary["checkpoint"] == "runs/dpo/step-0000006"
    names = [c["name"] for c in store.list_checkpoints(prefix="runs/dpo/")]
    assert names == ["runs/dpo/step-0000003", "runs/dpo/step-0000006"]
    info = store.info("runs/dpo/step-0000006")
    meta = info["metadata"]
    assert info["classification"] == "internal"
    assert meta["kind"] == "dpo" and meta["parent_checkpoint"] == BASE
    assert meta["preference_data_sha256"] == "ab" * 32
    assert meta["scrubbed_data_sha256"] == sha256_file(base["prefs"])
    with LocalCheckpoint(store, "runs/dpo/step-0000006") as path:
        files = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
        assert {"config.json", "model.safetensors", "train_config.json"} <= files
        assert {"trainer/optimizer.pt", "trainer/trainer_state.json"} <= files
        assert not any(f.endswith("training_args.bin") for f in files)  # no pickles stored
        tuned = load_file(path / "model.safetensors")
    with LocalCheckpoint(store, BASE) as path:
        start = load_file(path / "model.safetensors")
    assert any(not torch.equal(tuned[k], start[k]) for k in start)
    from corpusforge.core.audit import AuditLog
    from corpusforge.core.workspace import Workspace
    from corpusforge.lineage import checkpoints

    log = AuditLog.for_workspace(Workspace.resolve(base["root"] / "ws"))
    put = next(c for c in checkpoints(log) if c["name"] == "runs/dpo/step-0000006")
    assert put["parent"] == BASE and put["preference_data"] == "ab" * 32
    base_put = next(c for c in checkpoints(log) if c["name"] == BASE)
    assert put["trained_on"] == base_put["trained_on"]  # inherits the base's token shards
    records = [json.loads(line) for line in (base["root"] / "dpo.jsonl").read_text().splitlines()]
    val = [r for r in records if r["kind"] == "val"]
    assert [r["step"] for r in val] == [0, 3, 6] and all("reward_accuracy" in r for r in val)


def test_classification_is_never_below_the_parents(base):
    store = base["store"]
    with LocalCheckpoint(store, BASE) as path:
        store.put_checkpoint("runs/raw/step-0000004", path, {"run": "raw"})  # unscrubbed
    align(config(base, "from-raw", init_from="runs/raw/step-0000004", max_steps=3), store)
    assert store.info("runs/from-raw/step-0000003")["classification"] == "restricted"


def test_lora_dpo_exports_merged_weights_and_keeps_adapters(base):
    store = base["store"]
    align(config(base, "lora", max_steps=3, lora={"rank": 4, "alpha": 8}), store)
    with LocalCheckpoint(store, "runs/lora/step-0000003") as path:
        assert (path / "trainer" / "adapter_model.safetensors").is_file()
        merged = load_file(path / "model.safetensors")
        assert not any("lora" in k for k in merged)
    with LocalCheckpoint(store, BASE) as path:
        start = load_file(path / "model.safetensors")
    q = next(k for k in start if k.endswith("q_proj.weight"))
    assert not torch.equal(merged[q], start[q])


class FailSecondPut:
    """The store, except that the second checkpoint put fails (a job killed mid-run)."""

    def __init__(self, store):
        self.store, self.puts = store, 0

    def __getattr__(self, name):
        return getattr(self.store, name)

    def put_checkpoint(self, name, local_dir, metadata):
        self.puts += 1
        if self.puts == 2:
            raise RuntimeError("killed")
        return self.store.put_checkpoint(name, local_dir, metadata)


def test_a_killed_run_resumes_to_the_same_result(base):
    store = base["store"]
    align(config(base, "straight"), store)
    with pytest.raises(RuntimeError, match="killed"):
        align(config(base, "resumed"), FailSecondPut(store))
    assert [c["name"] for c in store.list_checkpoints(prefix="runs/resumed/")] == [
        "runs/resumed/step-0000003"
    ]
    summary = align(config(base, "resumed"), store)
    assert summary["step"] == 6

    def losses(run):
        path = base["root"] / f"{run}.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        return {r["step"]: r["loss"] for r in records if r["kind"] == "train"}

    straight, resumed = losses("straight"), losses("resumed")
    assert [resumed[s] for s in (4, 5, 6)] == pytest.approx([straight[s] for s in (4, 5, 6)])
    with LocalCheckpoint(store, "runs/straight/step-0000006") as path:
        a = load_file(path / "model.safetensors")
    with LocalCheckpoint(store, "runs/resumed/step-0000006") as path:
        b = load_file(path / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_flow_scrubs_the_pairs_and_records_the_run(prefect_harness, base, monkeypatch):
    from corpusforge.core.audit import AuditLog
    from corpusforge.core.workspace import Workspace
    from corpusforge.flows.align import AlignParams, run_align

    ws = base["root"] / "ws"
    monkeypatch.setenv("CORPUSFORGE_WORKSPACE", str(ws))
    monkeypatch.setenv("CORPUSFORGE_TOKEN", base["tokens"]["svc:trainer"])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the job subprocess: see one_torch_thread
    raw = base["root"] / "raw-prefs.jsonl"
    rows = arithmetic_pairs(20)
    rows[0]["chosen"] = f"{rows[0]['chosen']} (ask {EMAIL})"
    rows[1]["rejected"] = f"from {IP}"
    raw.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = config(base, "flow", data=str(raw), max_steps=2, checkpoint_every=2, eval_every=2)
    summary = run_align(
        AlignParams(
            config=cfg.model_copy(update={"metrics_path": None}), pii={"mode": "fast"}, gpus=0
        )
    )
    assert summary["steps"] == 2 and summary["pairs_out"] == 20
    job_dir = Workspace.resolve(ws).run_dir("align", "flow")
    scrubbed = (job_dir / "preferences.scrubbed.jsonl").read_text()
    assert EMAIL not in scrubbed and IP not in scrubbed and "<|email|>" in scrubbed
    assert "<|ip|>" in scrubbed
    job = json.loads((job_dir / "config.json").read_text())
    assert job["data"].endswith("preferences.scrubbed.jsonl")
    meta = base["store"].info("runs/flow/step-0000002")["metadata"]
    assert meta["preference_data_sha256"] == sha256_file(raw) and meta["pii_scrubbed"] is True
    log = AuditLog.for_workspace(Workspace.resolve(ws))
    pii = [e for e in log.events(action_prefix="pii.preferences")][-1]
    assert pii.object == f"sha256:{sha256_file(raw)}" and pii.counts["out"] == 20
    run = [e for e in log.events(action_prefix="align.run")][-1]
    assert run.details["preference_data_sha256"] == sha256_file(raw)
    assert run.counts["steps"] == 2
    for e in log.events():
        assert EMAIL not in json.dumps(e.details) and IP not in json.dumps(e.details)


def test_reward_model_is_trained_and_stored(base):
    from transformers import AutoModelForSequenceClassification

    store = base["store"]
    summary = align(config(base, "reward", method="reward", max_steps=2, eval_every=2), store)
    assert summary["step"] == 2 and summary["reward_accuracy"] is not None
    assert store.info("runs/reward/step-0000002")["metadata"]["kind"] == "reward"
    with LocalCheckpoint(store, "runs/reward/step-0000002") as path:
        model = AutoModelForSequenceClassification.from_pretrained(path)
    assert model.config.num_labels == 1


def test_demo_config_adds_the_align_stage_only_with_preferences(tmp_path):
    from corpusforge.demo.prefs import preference_rows, write_preferences
    from corpusforge.flows.demo import demo_config

    plain = demo_config(tmp_path / "runs", tmp_path / "sample")
    assert plain.align is None and "align" not in plain.selected_stages()
    prefs = write_preferences(tmp_path / "sample", seed=0)
    aligned = demo_config(tmp_path / "runs", tmp_path / "sample", prefs)
    stages = aligned.selected_stages()
    assert stages == [*plain.selected_stages()[:-1], "align", "eval"]
    assert aligned.model_dump(exclude={"align"}) == plain.model_dump(exclude={"align"})
    rows = [json.loads(line) for line in prefs.read_text().splitlines()]
    assert rows == preference_rows(0) and len(rows) == 96
    for r in rows:  # checkable: the chosen answer is the word in the asked case
        word = r["prompt"].split("Write the word ")[1].split()[0]
        asked = word.upper() if "capital letters" in r["prompt"] else word
        assert r["chosen"] == asked and r["rejected"] != asked
        assert r["rejected"].lower() == word
    assert sum(r["prompt"].startswith("I am ") for r in rows) == 12


def test_demo_align_stage_runs_dpo_on_scrubbed_pairs_through_the_flow(
    prefect_harness, base, monkeypatch, tmp_path
):
    from corpusforge.demo.prefs import write_preferences
    from corpusforge.flows.demo import demo_config
    from corpusforge.flows.pipeline import _run_stage
    from corpusforge.flows.pipeline_steps import StepContext
    from corpusforge.pipeline.manifest import StageRun

    monkeypatch.setenv("CORPUSFORGE_WORKSPACE", str(base["root"] / "ws"))
    monkeypatch.setenv("CORPUSFORGE_TOKEN", base["tokens"]["svc:trainer"])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the job subprocess: see one_torch_thread
    prefs = write_preferences(tmp_path / "sample", seed=0)
    demo = demo_config(tmp_path / "runs", tmp_path / "sample", prefs)
    short = {"max_steps": 4, "eval_every": 4, "checkpoint_every": 4}  # the demo runs 40
    config = demo.model_copy(
        update={"stages": ["align"], "align": demo.align.model_copy(update=short)}
    )
    ctx = StepContext(config=config, root=config.output_root())
    run = StageRun("finetune", ctx.stage_dir("finetune"), {}, inputs=[], hash_inputs=False)
    run.extra["checkpoint"] = BASE  # as if fine-tuning had produced it
    run.finish()

    first = _run_stage("align", config, force=False)
    assert first["status"] == "ran"
    manifest = first["manifest"]
    assert manifest["checkpoint"] == "runs/demo-align/step-0000004"
    assert manifest["summary"]["pairs_in"] == 96 and manifest["summary"]["held_out_pairs"] == 19
    scrubbed = (ctx.stage_dir("align") / "preferences.scrubbed.jsonl").read_text()
    raw = [json.loads(line) for line in prefs.read_text().splitlines()]
    for r in raw:
        if r["prompt"].startswith("I am "):
            email = r["prompt"].split("(")[1].split(")")[0]
            name = r["prompt"][len("I am ") :].split(" (")[0]
            assert email not in scrubbed and name not in scrubbed
    assert "<|email|>" in scrubbed
    meta = base["store"].info(manifest["checkpoint"])["metadata"]
    assert meta["parent_checkpoint"] == BASE and meta["pii_scrubbed"] is True
    assert meta["preference_data_sha256"] == sha256_file(prefs)
    assert _run_stage("align", config, force=False)["status"] == "skipped"
