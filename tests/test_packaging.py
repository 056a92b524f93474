"""One import namespace: the wheel holds only `corpusforge`, and the installed package imports
from a directory outside the repository (no repository root on sys.path)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"corpusforge": "corpusforge", "pipeline": "corpusforge/pipeline"}
FOLDERS |= {"model": "corpusforge/model", "flows": "corpusforge/flows"}


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONSAFEPATH"] = "1"  # no script directory or cwd on sys.path either
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy of the source files (tracked and new, not ignored): a build/ folder
    # left in the checkout by an earlier build would put deleted modules into the wheel.
    source = tmp_path_factory.mktemp("source")
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    for rel in listed:
        if (REPO / rel).is_file():
            (source / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, source / rel)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(out), str(source)],
        check=True,
        cwd=out,
        capture_output=True,
        env=_clean_env(),
    )
    (path,) = out.glob("corpusforge-*.whl")
    return path


def test_the_wheel_holds_one_top_level_package_with_every_module(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"corpusforge"}
    expected = {
        f"{prefix}/{path.relative_to(REPO / folder).as_posix()}"
        for folder, prefix in FOLDERS.items()
        for path in (REPO / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    # package data: the demo corpus's word lists, templates and licence texts
    expected |= {
        path.relative_to(REPO).as_posix() for path in (REPO / "corpusforge/demo/data").iterdir()
    }
    missing = sorted(expected - set(names))
    assert not missing, f"not in the wheel (list new subpackages in pyproject.toml): {missing}"
    for example in ("pipeline/pii/stage.py", "model/store/store.py", "flows/pipeline.py"):
        assert f"corpusforge/{example}" in names


def test_the_wheel_imports_outside_the_repository(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site)]
        + [str(wheel)],
        check=True,
        capture_output=True,
        env=_clean_env(),
    )
    env = _clean_env() | {"PYTHONPATH": str(site)}
    code = (
        "import sys, corpusforge.pipeline.manifest as m, corpusforge.model, corpusforge.flows\n"
        "from corpusforge.core.version import code_version\n"
        "from corpusforge.demo.resources import read_text\n"
        "assert read_text('page.html').startswith('<!DOCTYPE html>')\n"
        "print(m.__file__); print(corpusforge.model.__file__); print(code_version())\n"
        "assert not any(p and p.rstrip('/') == sys.argv[1] for p in sys.path), sys.path\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(REPO)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    manifest_file, model_file, version = run.stdout.split()
    assert Path(manifest_file) == site / "corpusforge" / "pipeline" / "manifest.py"
    assert Path(model_file) == site / "corpusforge" / "model" / "__init__.py"
    from corpusforge.core.version import code_version

    assert version == code_version()  # same sources, same code version, however installed


def test_the_development_install_imports_outside_the_repository(tmp_path):
    code = (
        "import sys, corpusforge.pipeline.dedup.config as c, corpusforge.flows, corpusforge.model\n"
        "print(c.__file__)\n"
        "assert not any(p and p.rstrip('/') == sys.argv[1] for p in sys.path), sys.path\n"
        "try:\n    import pipeline\nexcept ImportError:\n    pass\n"
        "else:\n    raise SystemExit('the bare name pipeline still imports')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(REPO)],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert Path(run.stdout.strip()) == REPO / "pipeline" / "dedup" / "config.py"


def test_layers_point_down():
    """The import-linter contract of pyproject.toml (also run by `make lint` and CI)."""
    run = subprocess.run(
        [sys.executable, str(REPO / "infra" / "ci" / "lint_imports.py"), "--no-cache"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
