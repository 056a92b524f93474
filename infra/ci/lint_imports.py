"""Check the import-linter contracts of pyproject.toml ([tool.importlinter]).

import-linter (grimp) finds a package's modules by walking its folder, and in this repository
corpusforge.pipeline, corpusforge.model and corpusforge.flows live in the top-level folders
pipeline/, model/ and flows/ (setuptools package-dir), not under corpusforge/. So the sources are
laid out as the wheel holds them, in a temporary folder, from the same package-dir mapping, and
lint-imports runs there.

    .venv/bin/python infra/ci/lint_imports.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> int:
    pyproject = REPO / "pyproject.toml"
    mapping = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-dir"]
    lint = Path(sys.executable).with_name("lint-imports")
    with tempfile.TemporaryDirectory() as tmp:
        for package, folder in sorted(mapping.items()):  # parents before their subpackages
            shutil.copytree(
                REPO / folder,
                Path(tmp, *package.split(".")),
                ignore=shutil.ignore_patterns("__pycache__"),
                dirs_exist_ok=True,
            )
        env = {**os.environ, "PYTHONPATH": tmp}
        cmd = [str(lint) if lint.exists() else "lint-imports", str(pyproject)]
        return subprocess.run(cmd + sys.argv[1:], cwd=tmp, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
