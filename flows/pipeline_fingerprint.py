"""Stage fingerprints: hash of (stage, inputs, config, code version), kept beside the manifest.

A stage's output (a directory, or an fsspec URL prefix) is reusable when `_FINGERPRINT.json` in
it carries the same fingerprint and the manifest it was written with is still there, unchanged,
with every output shard present. Inputs are identified by content hashes (the upstream
manifest's shard sha256s, or the source files' sha256; a source object at a URL by its
backend version and size), never by paths or times alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from corpusforge import __version__
from corpusforge.core.errors import CorpusforgeError
from corpusforge.core.hashing import sha256_json
from corpusforge.core.version import module_sources
from corpusforge.pipeline.manifest import MANIFEST_NAME
from corpusforge.pipeline.remote import (
    output_files,
    read_output_bytes,
    remove_output_file,
    write_output_bytes,
)

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
    """The fingerprint record of a stage output (a directory or a URL), if any."""
    try:
        return json.loads(read_output_bytes(out_dir, FINGERPRINT_NAME))
    except (OSError, CorpusforgeError, json.JSONDecodeError):
        return None


def _manifest_sha256(out_dir: str | Path) -> str | None:
    try:
        return hashlib.sha256(read_output_bytes(out_dir, MANIFEST_NAME)).hexdigest()
    except (OSError, CorpusforgeError):
        return None


def write_fingerprint(out_dir: str | Path, stage: str, fingerprint: str, code: str) -> None:
    """Record that `out_dir` holds the finished output for `fingerprint` (written last)."""
    record = {
        "stage": stage,
        "fingerprint": fingerprint,
        "code_version": code,
        "manifest_sha256": _manifest_sha256(out_dir),
    }
    data = (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode()
    write_output_bytes(out_dir, FINGERPRINT_NAME, data)


def is_complete(out_dir: str | Path, fingerprint: str) -> bool:
    record = read_fingerprint(out_dir)
    if not record or record.get("fingerprint") != fingerprint:
        return False
    if record.get("manifest_sha256") is None:  # a stage without a manifest (none so far)
        return True
    try:
        raw = read_output_bytes(out_dir, MANIFEST_NAME)
    except (OSError, CorpusforgeError):
        return False
    if hashlib.sha256(raw).hexdigest() != record["manifest_sha256"]:
        return False
    outputs = json.loads(raw).get("outputs", [])
    present = output_files(out_dir)
    return all(o["path"] in present for o in outputs if "path" in o)


def invalidate(out_dir: str | Path) -> None:
    """Forget that `out_dir` is finished (called before a stage rewrites it)."""
    remove_output_file(out_dir, FINGERPRINT_NAME)
