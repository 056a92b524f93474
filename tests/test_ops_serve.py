"""`corpusforge serve --check` (and `run`) check every input of the config and name the missing
one; examples/pipeline.yaml works in a fresh clone after `make setup`; the stack's config too."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from typer.testing import CliRunner

from corpusforge.cli import app
from corpusforge.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def _serve_check(*args: str, workspace: Path):
    return CliRunner().invoke(
        app, ["serve", *args, "--check", "--workspace", str(workspace)], catch_exceptions=True
    )


def _fresh_clone(tmp_path: Path) -> Path:
    """The committed files of this checkout (what a clone has), without sample/ or out/."""
    clone = tmp_path / "clone"
    files = subprocess.run(
        ["git", "ls-files", "-z", "examples", "Makefile"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for rel in filter(None, files):
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, clone / rel)
    return clone


def test_examples_pipeline_runs_in_a_fresh_clone_after_setup(tmp_path):
    from corpusforge.demo import write_sample

    clone = _fresh_clone(tmp_path)
    config = clone / "examples" / "pipeline.yaml"
    # Through the real entry point: one line on stderr, exit code 2.
    before = subprocess.run(
        [str(REPO / ".venv" / "bin" / "corpusforge"), "serve", str(config), "--check"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
             "CORPUSFORGE_WORKSPACE": str(tmp_path / "ws")},
    )  # fmt: skip
    assert before.returncode == 2
    (line,) = before.stderr.strip().splitlines()
    missing = clone / "sample" / "web"
    assert line.startswith(
        f"error: {config} (nightly-prepare): inputs[0]: {missing} does not exist"
    )

    # `make setup` writes the sample corpus with this command, in the repository root.
    recipe = (clone / "Makefile").read_text()
    assert re.search(r"corpusforge sample sample\b", recipe)
    write_sample(clone / "sample", seed=0)
    after = _serve_check(str(config), workspace=tmp_path / "ws")
    assert after.exit_code == 0, after.output + str(after.exception)
    assert "corpus-to-model/full-pipeline" in after.output


def test_serve_check_names_each_missing_input(tmp_path):
    sft = tmp_path / "sft.jsonl"
    sft.write_text('{"prompt": "p", "response": "r"}\n')
    (tmp_path / "crawl").mkdir()
    base = {
        "inputs": [str(tmp_path / "crawl"), str(tmp_path / "books")],
        "output": str(tmp_path / "out"),
        "finetune": {"data": str(tmp_path / "missing-sft.jsonl")},
    }
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump(base))
    first = _serve_check(str(config), workspace=tmp_path / "ws")
    assert isinstance(first.exception, ConfigError)
    assert f"inputs[1]: {tmp_path / 'books'} does not exist" in str(first.exception)

    (tmp_path / "books").mkdir()
    second = _serve_check(str(config), workspace=tmp_path / "ws")
    assert f"finetune.data: {tmp_path / 'missing-sft.jsonl'} does not exist" in str(
        second.exception
    )

    config.write_text(yaml.safe_dump({**base, "finetune": {"data": str(sft)}}))
    assert _serve_check(str(config), workspace=tmp_path / "ws").exit_code == 0


def test_stack_config_checks_with_only_the_drop_folder(tmp_path):
    """infra/pipeline.yaml needs nothing but the drop folder (fine-tuning is opt-in)."""
    raw = yaml.safe_load((REPO / "infra" / "pipeline.yaml").read_text())
    drop = tmp_path / "drop"
    drop.mkdir()
    raw.update(inputs=[str(drop)], output=str(tmp_path / "out"))
    config = tmp_path / "stack.yaml"
    config.write_text(yaml.safe_dump(raw))
    done = _serve_check(str(config), "--drop-folder", str(drop), workspace=tmp_path / "ws")
    assert done.exit_code == 0, done.output + str(done.exception)
    assert "corpus-to-model/retrain: stages ['pretrain']" in done.output
