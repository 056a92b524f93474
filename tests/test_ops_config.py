"""Pipeline config, stage fingerprints, CLI argument errors and doctor: no Prefect runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from corpusforge.cli import app
from corpusforge.core.errors import ConfigError
from corpusforge.flows.pipeline_config import load_config, parse_config
from corpusforge.flows.pipeline_fingerprint import (
    is_complete,
    source_version,
    stage_fingerprint,
    write_fingerprint,
)

REPO = Path(__file__).resolve().parents[1]


def test_example_config_validates_and_resolves_paths_against_its_file():
    cfg = load_config(REPO / "examples" / "pipeline.yaml")
    assert cfg.output_root() == (REPO / "out" / "pipeline").resolve()
    assert cfg.inputs[0] == str((REPO / "sample" / "web").resolve())
    assert cfg.selected_stages()[0] == "ingest"


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"output": "o"}, "inputs: Field required"),
        ({"inputs": ["a"], "output": "o", "typo": 1}, "typo: unknown key 'typo'"),
        ({"inputs": ["a"], "output": "o", "ingest": {"min_chars": -1}}, "ingest.min_chars"),
        ({"inputs": ["a"], "output": "o", "task_runner": "ray"}, "task_runner"),
        ({"inputs": ["a"], "output": "o", "stages": []}, "at least one stage"),
        ({"inputs": ["a"], "output": "o", "stages": ["bake"]}, "stages.0"),
        (["inputs"], "expected a mapping"),
    ],
)
def test_bad_configs_fail_with_one_line_naming_the_field(raw, message):
    with pytest.raises(ConfigError) as err:
        parse_config(raw, where="p.yaml")
    text = str(err.value)
    assert message in text and "\n" not in text and text.startswith("p.yaml")


def test_stages_are_put_in_pipeline_order():
    cfg = parse_config({"inputs": ["a"], "output": "o", "stages": ["pii", "ingest"]})
    assert cfg.selected_stages() == ["ingest", "pii"]


def test_training_sections_are_checked_with_the_training_models():
    with pytest.raises(ConfigError, match="finetune.data: Field required"):
        parse_config({"inputs": ["a"], "output": "o"})
    with pytest.raises(ConfigError, match="pretrain.max_steps"):
        parse_config(
            {"inputs": ["a"], "output": "o", "stages": ["pretrain"], "pretrain": {"max_steps": 0}}
        )


def test_fingerprint_changes_with_inputs_config_and_code(tmp_path):
    base = stage_fingerprint("dedup", [{"sha256": "a"}], {"threshold": 0.8}, "v1")
    assert base == stage_fingerprint("dedup", [{"sha256": "a"}], {"threshold": 0.8}, "v1")
    assert base != stage_fingerprint("dedup", [{"sha256": "b"}], {"threshold": 0.8}, "v1")
    assert base != stage_fingerprint("dedup", [{"sha256": "a"}], {"threshold": 0.7}, "v1")
    assert base != stage_fingerprint("dedup", [{"sha256": "a"}], {"threshold": 0.8}, "v2")


def test_source_version_follows_the_stage_files(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(tmp_path)
    (tmp_path / "stagepkg").mkdir()
    (tmp_path / "stagepkg" / "__init__.py").write_text("")
    (tmp_path / "stagepkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "othermod.py").write_text("y = 1\n")
    v1 = source_version(["stagepkg"])
    (tmp_path / "othermod.py").write_text("y = 2\n")
    assert source_version(["stagepkg"]) == v1
    (tmp_path / "stagepkg" / "a.py").write_text("x = 2\n")
    assert source_version(["stagepkg"]) != v1
    assert source_version(["othermod"]) != source_version(["stagepkg"])


def test_stage_code_modules_exist():
    """Every module a stage fingerprint hashes is a real module of the installed namespace."""
    from corpusforge.core.version import module_sources
    from corpusforge.flows.pipeline_steps import STEPS

    for step in STEPS.values():
        for name in step.code_modules:
            assert module_sources(name), f"{step.name}: {name} has no sources"


def test_is_complete_needs_matching_fingerprint_unchanged_manifest_and_shards(tmp_path):
    out = tmp_path / "docs"
    out.mkdir()
    (out / "part-00000.parquet").write_bytes(b"shard")
    manifest = {"stage": "x", "outputs": [{"path": "part-00000.parquet", "rows": 1}]}
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert not is_complete(out, "f1")
    write_fingerprint(out, "x", "f1", "v1")
    assert is_complete(out, "f1") and not is_complete(out, "f2")
    (out / "part-00000.parquet").unlink()
    assert not is_complete(out, "f1")
    (out / "part-00000.parquet").write_bytes(b"shard")
    (out / "manifest.json").write_text(json.dumps({**manifest, "counts": {}}))
    assert not is_complete(out, "f1")


def _invoke(*args):
    return CliRunner().invoke(app, list(args))


def _main(args, capsys, monkeypatch) -> tuple[int, str]:
    """The real entry point (`corpusforge ...`): exit code and stderr."""
    from corpusforge.cli import main

    monkeypatch.setattr("sys.argv", ["corpusforge", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


def test_run_and_serve_reject_bad_arguments_in_one_line(tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml.safe_dump(_full_config(tmp_path)))
    cases = [
        (["run", str(cfg), "--task-runner", "ray://x"], "--task-runner"),
        (["run", str(tmp_path / "missing.yaml")], "no such pipeline config file"),
        (["serve", str(cfg), "--cron", "every night"], "--cron"),
        (["serve", str(cfg), "--timezone", "Mars/Olympus"], "--timezone"),
        (["serve", str(cfg), "--drop-folder", str(tmp_path / "nope")], "--drop-folder"),
    ]
    for args, needle in cases:
        code, err = _main([*args, "--workspace", str(tmp_path / "ws")], capsys, monkeypatch)
        assert code == 2, (args, code)
        assert err.startswith("error: ") and needle in err and err.count("\n") == 1, (args, err)


def _full_config(tmp_path) -> dict:
    sft = tmp_path / "sft.jsonl"
    sft.write_text('{"prompt": "p", "response": "r"}\n')
    return {
        "inputs": [str(tmp_path)],
        "output": str(tmp_path / "o"),
        "finetune": {"data": str(sft)},
    }


def test_serve_check_lists_the_three_deployments(tmp_path):
    cfg = tmp_path / "p.yaml"
    drop = tmp_path / "drop"
    drop.mkdir()
    cfg.write_text(yaml.safe_dump(_full_config(tmp_path)))
    result = _invoke(
        "serve", str(cfg), "--drop-folder", str(drop), "--check", "--workspace", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    assert "corpus-to-model/nightly-prepare" in result.output
    assert "cron '0 2 * * *' UTC" in result.output
    assert "corpus-to-model/full-pipeline: stages all; on demand" in result.output
    assert "corpus-to-model/retrain: stages ['pretrain', 'finetune']" in result.output
    assert "concurrency limit 1" in result.output


def test_deployments_schedule_drop_folder_and_limit_retraining(tmp_path):
    from corpusforge.flows.pipeline_deployments import build_deployments
    from corpusforge.flows.pipeline_steps import available_stages

    cfg = parse_config(_full_config(tmp_path))
    deps = {d.name: d for d in build_deployments(cfg, drop_folder="/drop", cron="5 1 * * *")}
    nightly = deps["nightly-prepare"]
    assert nightly.schedules[0].schedule.cron == "5 1 * * *"
    assert nightly.parameters["config"]["inputs"] == ["/drop"]
    assert nightly.parameters["config"]["incremental"] is True
    assert "pretrain" not in nightly.parameters["config"]["stages"]
    assert nightly.entrypoint == "corpusforge.flows.pipeline.corpus_to_model"
    assert deps["full-pipeline"].schedules == []
    if "pretrain" in available_stages():
        limit = deps["retrain"].concurrency_limit
        assert getattr(limit, "limit", limit) == 1


def test_doctor_prints_one_status_line_per_check(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # nothing listens there
    result = _invoke("doctor", "--workspace", str(tmp_path / "ws"))
    lines = result.output.strip().splitlines()
    names = [line.split()[1] for line in lines if line.split()[0] in ("OK", "WARN", "FAIL")]
    assert {"python", "torch", "spacy", "gpu", "prefect-api", "store-keys"} <= set(names)
    api = next(line for line in lines if " prefect-api " in line)
    assert api.startswith("FAIL") and "->" in api
    assert result.exit_code == 1
