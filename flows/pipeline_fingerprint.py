"""Stage fingerprints: hash of (stage, inputs, config, code version), kept beside the manifest.

A stage's output is reusable when `_FINGERPRINT.json` in its directory carries the same
fingerprint and the manifest it was written with is still there, unchanged, with every output
shard present. Inputs are identified by content hashes (the upstream manifest's shard sha256s,
or the source files' sha256), never by paths or times alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from corpusforge import __version__
from corpusforge.core.hashing import sha256_file, sha256_json
from corpusforge.core.version import module_sources
from corpusforge.pipeline.manifest import MANIFEST_NAME, write_json_atomic

FINGERPRINT_NAME = "_FINGERPRINT.json"


def source_version(modules: Iterable[str]) -> str:
    """Hash of the stage's own source files (package version included): `modules` are dotted
    names of modules or packages (`corpusforge.pipeline.dedup`).

    Narrower than the git commit: an unrelated commit does not invalidate a finished stage,
    and an uncommitted edit to the stage does.
    """
    h = hashlib.sha256(__version__.encode())
    for name in sorted(modules):
        for label, path in module_sources(name):
            h.update(label.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{__version__}+src.{h.hexdigest()[:16]}"


def stage_fingerprint(stage: str, inputs: Any, config: Any, code: str) -> str:
    return sha256_json({"stage": stage, "inputs": inputs, "config": config, "code_version": code})


def read_fingerprint(out_dir: str | Path) -> dict[str, Any] | None:
    path = Path(out_dir) / FINGERPRINT_NAME
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def write_fingerprint(out_dir: str | Path, stage: str, fingerprint: str, code: str) -> None:
    """Record that `out_dir` holds the finished output for `fingerprint` (written last)."""
    out = Path(out_dir)
    manifest = out / MANIFEST_NAME
    record = {
        "stage": stage,
        "fingerprint": fingerprint,
        "code_version": code,
        "manifest_sha256": sha256_file(manifest) if manifest.exists() else None,
    }
    write_json_atomic(out / FINGERPRINT_NAME, record)


def is_complete(out_dir: str | Path, fingerprint: str) -> bool:
    out = Path(out_dir)
    record = read_fingerprint(out)
    if not record or record.get("fingerprint") != fingerprint:
        return False
    manifest = out / MANIFEST_NAME
    if record.get("manifest_sha256") is None:  # a stage without a manifest (none so far)
        return True
    if not manifest.exists() or sha256_file(manifest) != record["manifest_sha256"]:
        return False
    outputs = json.loads(manifest.read_text()).get("outputs", [])
    return all((out / o["path"]).exists() for o in outputs if "path" in o)


def invalidate(out_dir: str | Path) -> None:
    """Forget that `out_dir` is finished (called before a stage rewrites it)."""
    (Path(out_dir) / FINGERPRINT_NAME).unlink(missing_ok=True)
