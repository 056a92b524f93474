"""Stage run records: `manifest.json` and `rejects.jsonl` in every stage's output directory.

The manifest says what went in (with sha256), what came out (shards with sha256 and row
counts), the config, the code version, start/end time and counts in/out/rejected. Rejects
are quarantine records (file, position, reason): never document text, never PII.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from corpusforge.core.errors import InputError, IntegrityError
from corpusforge.core.hashing import sha256_file
from corpusforge.core.settings import contained_path
from corpusforge.core.version import code_version

MANIFEST_NAME = "manifest.json"
REJECTS_NAME = "rejects.jsonl"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def config_dict(config: BaseModel | Mapping[str, Any] | None) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, BaseModel):
        return config.model_dump(mode="json")
    return dict(config)


def describe_inputs(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(
                {"path": str(f), "sha256": sha256_file(f), "bytes": f.stat().st_size}
                for f in sorted(p.iterdir())
                if f.is_file() and f.suffix in (".parquet", ".jsonl")
            )
        elif p.is_file():
            out.append({"path": str(p), "sha256": sha256_file(p), "bytes": p.stat().st_size})
        else:
            out.append({"path": str(p), "sha256": None, "bytes": None})
    return out


class Reject(BaseModel):
    """One quarantined input: where it was and why. No content."""

    file: str
    position: str | int | None = None
    reason: str
    source: str | None = None


class StageRun:
    """Collects what one stage run did and writes its manifest and rejects file."""

    def __init__(
        self,
        stage: str,
        out_dir: str | Path,
        config: BaseModel | Mapping[str, Any] | None = None,
        inputs: Iterable[str | Path] = (),
        hash_inputs: bool = True,
    ):
        self.stage = stage
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.config = config_dict(config)
        self.inputs = describe_inputs(inputs) if hash_inputs else [{"path": str(p)} for p in inputs]
        self.outputs: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.extra: dict[str, Any] = {}
        self.started = _now()
        self._t0 = time.perf_counter()
        self._rejects_path = self.out_dir / REJECTS_NAME
        self._rejects_path.write_text("")

    def reject(self, reject: Reject | Mapping[str, Any]) -> None:
        r = reject if isinstance(reject, Reject) else Reject(**reject)
        with open(self._rejects_path, "a", encoding="utf-8") as f:
            f.write(r.model_dump_json(exclude_none=True) + "\n")
        self.counts["rejected"] += 1

    def add_outputs(self, outputs: Iterable[Mapping[str, Any]]) -> None:
        self.outputs.extend(dict(o) for o in outputs)

    def finish(self) -> dict[str, Any]:
        manifest = {
            "stage": self.stage,
            "code_version": code_version(),
            "config": self.config,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "counts": {
                "in": self.counts.get("in", 0),
                "out": sum(o.get("rows", 0) for o in self.outputs),
                "rejected": self.counts.get("rejected", 0),
                **{k: v for k, v in self.counts.items() if k not in ("in", "out", "rejected")},
            },
            "started": self.started,
            "finished": _now(),
            "seconds": round(time.perf_counter() - self._t0, 3),
            **self.extra,
        }
        manifest["audit_head"] = audit_head_anchor()
        write_json_atomic(self.out_dir / MANIFEST_NAME, manifest)
        return manifest


def audit_head_anchor() -> dict[str, Any] | None:
    """The audit log's head, sealed with the audit key, recorded in every stage manifest so a
    truncated or replaced audit database is caught by `corpusforge audit verify`."""
    from corpusforge.core.audit import current_anchor

    return current_anchor()


def write_json_atomic(path: Path, value: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False) + "\n")
    tmp.replace(path)


def read_manifest(out_dir: str | Path) -> dict[str, Any]:
    """A stage's manifest, with every path it names checked to stay inside `out_dir`."""
    path = Path(out_dir) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IntegrityError(f"{path}: manifest not found") from None
    except (OSError, ValueError):
        raise IntegrityError(f"{path}: unreadable manifest") from None
    if not isinstance(manifest, dict):
        raise IntegrityError(f"{path}: not a stage manifest")
    check_manifest_paths(out_dir, manifest, path)
    return manifest


def check_manifest_paths(root: str | Path, manifest: dict[str, Any], where: str | Path) -> None:
    """Refuse a manifest whose output paths or tokenizer directory lead outside `root`.

    A manifest is data that may have been edited; following `../` or an absolute path from it
    would read (or, on erasure rebuilds, copy) files elsewhere on the machine.
    """
    named: list[Any] = [o.get("path") for o in manifest.get("outputs") or [] if isinstance(o, dict)]
    tokenizer = manifest.get("tokenizer")
    if isinstance(tokenizer, dict) and "dir" in tokenizer:
        named.append(tokenizer["dir"])
    for rel in named:
        if not isinstance(rel, str) or not rel:
            raise IntegrityError(f"{where}: a listed path is not a relative path")
        try:
            contained_path(root, rel, "listed path")
        except InputError as exc:
            raise IntegrityError(f"{where}: {exc}") from None


def read_rejects(out_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(out_dir) / REJECTS_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
