"""Attacks through configuration: code named in a config or a flow parameter, typos, YAML
bombs, paths in manifests. Each test is the attack; nothing may run, each refusal is one line.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corpusforge.core.errors import ConfigError, InputError, IntegrityError
from corpusforge.core.settings import MAX_YAML_BYTES, contained_path, load_yaml_file, load_yaml_text
from corpusforge.flows.pipeline_config import PipelineConfig, load_config, parse_config
from corpusforge.pipeline.stage import run_local

ROOT = Path(__file__).resolve().parents[1]

# What an attacker writes where a config selects an implementation.
CODE_SPECS = ["os:system", "subprocess:run", "builtins:exec", "corpusforge.cli.main", "os.system"]

# (section, key) of every config field that selects an implementation or a model to load.
SELECTORS = [
    ("pretrain", "storage"),
    ("finetune", "storage"),
    ("ingest", "web_extractor"),
    ("pii", "mode"),
    ("pii", "spacy_model"),
    ("pii", "default_operator"),
    ("pretrain", "preset"),
    ("pretrain", "device"),
    ("pretrain", "precision"),
    (None, "task_runner"),
]


def _base(tmp_path: Path) -> dict:
    return {
        "inputs": [str(tmp_path / "in")],
        "output": str(tmp_path / "out"),
        "finetune": {"data": str(tmp_path / "sft.jsonl")},
    }


def _with(raw: dict, section: str | None, key: str, value) -> dict:
    raw = json.loads(json.dumps(raw))
    if section is None:
        raw[key] = value
    else:
        raw.setdefault(section, {})[key] = value
    return raw


def _cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "corpusforge.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# --- 1. no configuration value names code ------------------------------------------------


@pytest.mark.parametrize("section,key", SELECTORS)
@pytest.mark.parametrize("spec", CODE_SPECS)
def test_code_specs_are_refused_in_every_selector(tmp_path, section, key, spec):
    raw = _with(_base(tmp_path), section, key, spec)
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    message = str(err.value)
    assert "\n" not in message
    assert key in message


def test_language_model_names_and_codes_are_checked(tmp_path):
    for models in ({"de": "os:system"}, {"de": "builtins.exec"}, {"../x": "de_core_news_sm"}):
        with pytest.raises(ConfigError, match="language_models"):
            parse_config({**_base(tmp_path), "pii": {"language_models": models}})


def test_an_installed_package_that_is_not_a_spacy_model_is_never_imported():
    """A name that passes the syntax check still has to be a spaCy model on disk: the NER
    loader locates it without importing it and refuses anything without spaCy's meta.json."""
    from corpusforge.pipeline.pii.ner import load_ner_pipeline, spacy_model_dir

    for name in ("os", "subprocess", "antigravity", "this", "numpy", "corpusforge"):
        assert spacy_model_dir(name) is None
    before = set(sys.modules)
    with pytest.raises(ConfigError, match="not installed"):
        load_ner_pipeline("antigravity")
    assert "antigravity" not in set(sys.modules) - before


def test_the_storage_registry_is_closed():
    from corpusforge.model.config import StoreArgs
    from corpusforge.model.storage import STORAGE_BACKENDS, open_storage

    assert set(STORAGE_BACKENDS) == {"store"}
    with pytest.raises(ConfigError, match="unknown checkpoint storage"):
        open_storage("os:system", StoreArgs())


def test_training_job_refuses_code_in_its_config_file(tmp_path):
    """The job's own entry point (`python -m corpusforge.model.pretrain --config`), as a worker
    runs it."""
    marker = tmp_path / "PWNED"
    config = tmp_path / "config.json"
    for spec in CODE_SPECS:
        config.write_text(
            json.dumps(
                {
                    "data": str(tmp_path / "tokens"),
                    "storage": spec,
                    "storage_args": {"command": f"touch {marker}"},
                }
            )
        )
        proc = subprocess.run(
            [sys.executable, "-m", "corpusforge.model.pretrain", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert proc.returncode == 2
        line = _one_line(proc.stderr)
        assert "unknown checkpoint storage" in line
        assert not marker.exists()


def test_cli_refuses_code_in_yaml_and_options(tmp_path):
    marker = tmp_path / "PWNED"
    ws = tmp_path / "ws"
    bad = tmp_path / "pipeline.yaml"
    bad.write_text(
        "inputs: [in]\noutput: out\nstages: [pretrain]\n"
        f"pretrain: {{storage: 'os:system', storage_args: {{command: 'touch {marker}'}}}}\n"
    )
    proc = _cli("run", str(bad), "--workspace", str(ws), cwd=tmp_path)
    assert proc.returncode != 0
    assert "pretrain.storage" in _one_line(proc.stderr)

    train_cfg = tmp_path / "train.json"
    train_cfg.write_text(json.dumps({"storage": "subprocess:run", "storage_args": {"args": "id"}}))
    proc = _cli(
        "train", "--data", "tok", "--config", str(train_cfg), "--workspace", str(ws), cwd=tmp_path
    )
    assert proc.returncode != 0
    assert "storage" in _one_line(proc.stderr)

    src = tmp_path / "docs.jsonl"
    src.write_text('{"id": "a", "text": "hello"}\n')
    proc = _cli(
        "dedup", str(src), "-o", str(tmp_path / "d"), "--task-runner", "os:system",
        "--workspace", str(ws), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "--task-runner" in _one_line(proc.stderr)
    assert not marker.exists()


@pytest.mark.slow
def test_prefect_deployment_run_with_code_in_parameters_runs_nothing(tmp_path, prefect_harness):
    """Through the Prefect API, as any API client could: the server refuses to create the run
    (the parameters' JSON schema comes from the strict models), and the flow's own parameter
    validation, which a worker applies before the body, refuses it too."""
    from prefect.deployments import run_deployment
    from prefect.exceptions import ParameterTypeError

    from corpusforge.flows.pipeline import corpus_to_model
    from corpusforge.flows.pipeline_deployments import build_deployments

    marker = tmp_path / "PWNED"
    config = parse_config(_base(tmp_path))
    deployments = build_deployments(config)
    for deployment in deployments:
        deployment.name = f"{deployment.name}-{tmp_path.name}"
        deployment.apply()
    retrain = next(d for d in deployments if d.name.startswith("retrain"))
    for (section, key), spec in itertools.product(SELECTORS, CODE_SPECS):
        params = json.loads(json.dumps(retrain.parameters))
        target = params["config"] if section is None else params["config"][section]
        target[key] = spec
        if key == "storage":
            target["storage_args"] = {"command": f"touch {marker}"}
        with pytest.raises(Exception) as refused:
            run_deployment(f"corpus-to-model/{retrain.name}", parameters=params, timeout=0)
        assert "409" in str(refused.value) or "Validation" in str(refused.value), (key, spec)
        with pytest.raises(ParameterTypeError):
            corpus_to_model.validate_parameters(params)
    assert not marker.exists()


# --- 2. unknown keys are errors that name the key and the closest valid one ---------------


@pytest.mark.parametrize(
    "section,typo,meant",
    [
        (None, "stagse", "stages"),
        ("ingest", "min_char", "min_chars"),
        ("dedup", "threshhold", "threshold"),
        ("pii", "mdoe", "mode"),
        ("tokenize", "vocab_sise", "vocab_size"),
        ("pretrain", "max_step", "max_steps"),
        ("finetune", "lorra", "lora"),
    ],
)
def test_unknown_keys_name_the_closest_valid_key(tmp_path, section, typo, meant):
    raw = _with(_base(tmp_path), section, typo, 1)
    with pytest.raises(ConfigError) as err:
        parse_config(raw, where="p.yaml")
    message = str(err.value)
    assert f"'{typo}'" in message and f"'{meant}'" in message
    assert "\n" not in message


def test_unknown_keys_are_refused_at_nested_levels(tmp_path):
    nested = {
        **_base(tmp_path),
        "finetune": {"data": "sft.jsonl", "lora": {"rank": 4, "alphaa": 8}},
        "pretrain": {"storage_args": {"workspace": "w", "comand": "x"}},
    }
    with pytest.raises(ConfigError, match=r"finetune\.lora\.alphaa.*'alpha'"):
        parse_config({k: v for k, v in nested.items() if k != "pretrain"})
    with pytest.raises(ConfigError, match=r"storage_args\.comand"):
        parse_config({k: v for k, v in nested.items() if k != "finetune"})


def test_every_config_model_forbids_extra_keys():
    """Walk every pydantic model reachable from the pipeline config and the flow parameters."""
    from pydantic import BaseModel

    from corpusforge.flows.dedup import DedupParams
    from corpusforge.flows.ingest import IngestParams
    from corpusforge.flows.pii import PiiParams
    from corpusforge.flows.tokenize import TokenizeParams
    from corpusforge.flows.train import FinetuneParams, PretrainParams

    seen: set[type] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        assert model.model_config.get("extra") == "forbid", model.__name__
        for field in model.model_fields.values():
            for arg in _types(field.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    walk(arg)

    for root in (
        PipelineConfig,
        IngestParams,
        DedupParams,
        PiiParams,
        TokenizeParams,
        PretrainParams,
        FinetuneParams,
    ):
        walk(root)
    assert len(seen) >= 12


def _types(annotation):
    yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _types(arg)


def test_example_and_infra_configs_still_load():
    for path in (ROOT / "examples" / "pipeline.yaml", ROOT / "infra" / "pipeline.yaml"):
        assert isinstance(load_config(path), PipelineConfig)


# --- 3. YAML with limits -------------------------------------------------------------------

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
inputs: *i
output: out
"""


def test_alias_bomb_is_refused_fast_with_one_line(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    assert path.stat().st_size < 1024
    start = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert time.perf_counter() - start < 2
    assert "aliases are not allowed" in str(err.value) and "\n" not in str(err.value)


def test_alias_bomb_through_the_cli_and_serve_check(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    for args in (("run", str(path)), ("serve", str(path), "--check")):
        proc = _cli(*args, "--workspace", str(tmp_path / "ws"), cwd=tmp_path)
        assert proc.returncode != 0
        assert "aliases are not allowed" in _one_line(proc.stderr)


def test_self_reference_and_deep_nesting_and_size_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="aliases"):
        load_yaml_text("a: &a [*a]\n")
    with pytest.raises(ConfigError, match="nested deeper"):
        load_yaml_text("a: " + "[" * 500 + "]" * 500 + "\n")
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * (MAX_YAML_BYTES + 1) + "\n")
    with pytest.raises(ConfigError, match="larger than"):
        load_yaml_file(big)
    with pytest.raises(ConfigError, match="not valid YAML at line 2"):
        load_yaml_text("a: 1\nb: c: d\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        (tmp_path / "bin.yaml").write_bytes(b"a: \xff\xfe\n")
        load_yaml_file(tmp_path / "bin.yaml")


def test_plain_yaml_still_loads():
    assert load_yaml_text("a: [1, 2]\nb: {c: d}\n") == {"a": [1, 2], "b": {"c": "d"}}


# --- 4. paths from manifests stay inside their roots ---------------------------------------


def test_contained_path_refuses_escapes(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to("/etc")
    for rel in ("../x", "a/../../x", "/etc/passwd", "link/passwd"):
        with pytest.raises(InputError):
            contained_path(tmp_path / "root", rel)
    assert contained_path(tmp_path / "root", "a/b") == (tmp_path / "root" / "a" / "b").resolve()


def _token_dir(tmp_path: Path) -> Path:
    """A real, small tokenize output."""
    from corpusforge.pipeline.tokenize.config import TokenizeConfig
    from corpusforge.pipeline.tokenize.stage import tokenize_job

    docs = tmp_path / "docs.jsonl"
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    with docs.open("w") as fh:
        for i in range(40):
            text = " ".join(words[(i + j) % len(words)] for j in range(60))
            fh.write(json.dumps({"id": f"d{i}", "text": text, "source": "web"}) + "\n")
    out = tmp_path / "tokens"
    run_local(tokenize_job(docs, out, TokenizeConfig(vocab_size=512, val_fraction=0.1, workers=1)))
    return out


@pytest.fixture
def token_dir(tmp_path):
    return _token_dir(tmp_path)


def _edit_manifest(token_dir: Path, edit) -> None:
    path = token_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("escape", ["../../../../etc", "/etc", "tokenizer/../../elsewhere"])
def test_token_manifest_tokenizer_dir_outside_is_refused(token_dir, escape):
    from corpusforge.pipeline.tokenize.reader import TokenDataset

    _edit_manifest(token_dir, lambda m: m["tokenizer"].__setitem__("dir", escape))
    with pytest.raises(IntegrityError, match="leads outside|must be relative") as err:
        TokenDataset(token_dir)
    assert "\n" not in str(err.value)


def test_token_manifest_shard_path_outside_is_refused(token_dir, tmp_path):
    from corpusforge.pipeline.manifest import read_manifest
    from corpusforge.pipeline.tokenize.lineage import rebuild_without
    from corpusforge.pipeline.tokenize.reader import TokenDataset

    def escape(manifest):
        manifest["outputs"][0]["path"] = "../" + manifest["outputs"][0]["path"]

    _edit_manifest(token_dir, escape)
    for open_it in (
        lambda: TokenDataset(token_dir, split="train"),
        lambda: read_manifest(token_dir),
        lambda: rebuild_without(token_dir, ["d1"], tmp_path / "rebuilt"),
    ):
        with pytest.raises(IntegrityError, match="leads outside"):
            open_it()
    assert not (tmp_path / "rebuilt").exists()


def test_untouched_token_manifest_still_opens(token_dir):
    from corpusforge.pipeline.tokenize.reader import TokenDataset

    ds = TokenDataset(token_dir)
    assert ds.num_tokens > 0 and ds.tokenizer_dir.is_dir()


# --- the rule, at source level ---------------------------------------------------------------

DYNAMIC_CALLS = {
    "import_module",
    "__import__",
    "locate",
    "resolve_name",
    "run_module",
    "run_path",
    "load_entry_point",
}
# getattr/setattr with a computed name, each reviewed: the name comes from code, not data.
REVIEWED_GETATTR = {
    ("flows/pipeline_steps.py", "getattr(ctx.config, self.name)"),
    # a stage name from the fixed OPTIONAL_STAGES tuple, read as the config's section
    ("flows/pipeline_config.py", "getattr(self, s)"),
    # API model classes and their properties, named by the Kubernetes SDKs' own type metadata
    # (openapi_types), to build a JSON Schema; nothing from a config or parameter
    ("flows/k8s_training.py", "getattr(mod, name)"),
    ("flows/k8s_training.py", "getattr(cls, attr)"),
}


def _sources():
    for top in ("corpusforge", "pipeline", "model", "flows"):
        yield from sorted((ROOT / top).rglob("*.py"))


def test_no_dynamic_import_or_eval_in_the_product():
    """No code path can turn a string from a config, manifest or parameter into code: no
    importlib/__import__/pydoc.locate/pkgutil.resolve_name/runpy, no eval/exec, and getattr
    with a computed name only where reviewed."""
    found = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in DYNAMIC_CALLS:
                found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
            if isinstance(func, ast.Name) and func.id in ("eval", "exec", "compile"):
                found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
            computed = len(node.args) >= 2 and not isinstance(node.args[1], ast.Constant)
            reviewed = (rel, ast.unparse(node)) in REVIEWED_GETATTR
            if name in ("getattr", "setattr") and computed and not reviewed:
                found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
        text = path.read_text()
        for needle in ("importlib.import_module", "trust_remote_code=True", "weights_only=False"):
            if needle in text:
                found.append(f"{rel}: {needle}")
    assert not found, "\n".join(found)


def test_the_source_check_catches_what_it_looks_for(tmp_path, monkeypatch):
    """Guard against a check that cannot fail: plant each pattern and see it reported."""
    planted = tmp_path / "corpusforge"
    planted.mkdir()
    (planted / "bad.py").write_text(
        "import importlib\n"
        "def f(spec, obj, name):\n"
        "    mod = importlib.import_module(spec)\n"
        "    eval(spec)\n"
        "    return getattr(mod, name)\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    with pytest.raises(AssertionError) as err:
        test_no_dynamic_import_or_eval_in_the_product()
    report = str(err.value)
    assert "import_module(spec)" in report and "eval(spec)" in report
    assert "getattr(mod, name)" in report
