"""Code version recorded in manifests and cache keys, so a code change invalidates results.

It is the package version plus a hash of the project's Python sources (not the git commit:
a commit that changes no code must not invalidate finished work, and an uncommitted edit must).
"""

import hashlib
from functools import cache
from pathlib import Path

from corpusforge import __version__

_PACKAGES = ("corpusforge", "pipeline", "model", "flows")


@cache
def code_version() -> str:
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for package in _PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return f"{__version__}+src.{h.hexdigest()[:12]}"
