"""Code version recorded in manifests and cache keys, so a code change invalidates results.

It is the package version plus a hash of the project's Python sources (not the git commit:
a commit that changes no code must not invalidate finished work, and an uncommitted edit must).
"""

import hashlib
import importlib.util
from functools import cache
from pathlib import Path

from corpusforge import __version__

# The folders of these packages are separate in a source checkout (pipeline/ is
# corpusforge.pipeline) and nested in an installed wheel (corpusforge/pipeline/).
_PACKAGES = ("corpusforge", "corpusforge.pipeline", "corpusforge.model", "corpusforge.flows")


def module_sources(name: str) -> list[tuple[str, Path]]:
    """(label, file) for each Python source of module or package `name`, found without
    importing it (only its parent packages). Labels are `corpusforge/pipeline/text.py` however
    the package is installed; a package's subpackages mapped to other folders are not included."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        return []
    label = name.replace(".", "/")
    if not spec.submodule_search_locations:
        return [(label + ".py", Path(spec.origin))] if spec.origin else []
    root = Path(next(iter(spec.submodule_search_locations))).resolve()
    nested = [_package_dir(p) for p in _PACKAGES if p.startswith(name + ".")]
    return [
        (f"{label}/{path.relative_to(root).as_posix()}", path)
        for path in sorted(root.rglob("*.py"))
        if not any(d is not None and path.is_relative_to(d) for d in nested)
    ]


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


@cache
def code_version() -> str:
    h = hashlib.sha256()
    for package in _PACKAGES:
        for label, path in module_sources(package):
            h.update(label.encode())
            h.update(path.read_bytes())
    return f"{__version__}+src.{h.hexdigest()[:12]}"
