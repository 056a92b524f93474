"""Lineage from the audit trail and the stage manifests: model -> shards -> documents -> sources.

Facts used, all ids and hashes: `store.put` entries name the token manifest a checkpoint was
trained on (`trained_on`, from the checkpoint metadata `token_manifest_sha256`);
`tokenize.run` entries name the token-shard folders, whose document tables map shards to
document ids; `ingest.run` entries name the ingest folders, whose rows map document ids to
source file (`uri`) and record (`locator`). A stage output published to object storage
(`url:` objects) is followed the same way: its manifest is read in the bucket and its files
through a verified local copy in the workspace cache. Erasure rebuilds the token shards without the
documents (`corpusforge.pipeline.tokenize.rebuild_without`) and marks every checkpoint trained
on the old shards as affected.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corpusforge.core.audit import AuditEvent, AuditLog
from corpusforge.core.errors import InputError
from corpusforge.core.hashing import sha256_file
from corpusforge.pipeline.documents import iter_documents
from corpusforge.pipeline.manifest import read_manifest
from corpusforge.pipeline.remote import (
    fetch_output,
    is_remote,
    output_exists,
    publish,
    read_output_bytes,
)
from corpusforge.pipeline.tokenize import rebuild_without
from corpusforge.pipeline.tokenize.lineage import document_lineage as shard_hits
from corpusforge.pipeline.tokenize.shards import read_doc_table

MANIFEST = "manifest.json"


Location = Path | str  # a stage output folder, or the URL of one published to object storage


def _dirs(log: AuditLog, actions: Iterable[str]) -> list[Location]:
    """Stage outputs named by `dir:` and `url:` objects of these actions that still hold a
    manifest (a URL's is looked up in its bucket, with the backend's own credentials)."""
    seen: dict[Location, None] = {}
    for action in actions:
        for e in log.events(action_prefix=action):
            if e.action != action:
                continue
            new_dir = e.details.get("new_dir")
            named = [e.object, *([_object_of(new_dir)] if new_dir else [])]
            for obj in named:
                kind, _, where = obj.partition(":")
                if kind == "dir" and (Path(where) / MANIFEST).is_file():
                    seen[Path(where)] = None
                elif kind == "url" and is_remote(where) and _remote_manifest(where):
                    seen[where] = None
    return list(seen)


def _object_of(location: str) -> str:
    return f"url:{location}" if is_remote(location) else f"dir:{location}"


def _remote_manifest(url: str) -> bool:
    try:
        return output_exists(url, MANIFEST)
    except InputError:  # gone, or the bucket refuses: not an output lineage can follow
        return False


def _manifest_sha256(location: Location) -> str:
    return hashlib.sha256(read_output_bytes(location, MANIFEST)).hexdigest()


def local_copy(log: AuditLog, location: Location) -> Path:
    """The folder to read a stage output from: itself, or for a URL a verified local copy in
    the workspace cache (reused while the objects are unchanged)."""
    if not is_remote(location):
        return Path(location)
    return fetch_output(str(location), log.home / "cache" / "lineage")


def token_dirs(log: AuditLog) -> dict[str, Location]:
    """sha256 of a token manifest -> its folder or URL (tokenize runs and erasure rebuilds)."""
    return {_manifest_sha256(d): d for d in _dirs(log, ["tokenize.run", "audit.erase"])}


def token_documents(token_dir: Path) -> list[dict[str, Any]]:
    """One row per shard: path, sha256, and the document ids (with source) it holds."""

    manifest = read_manifest(token_dir)  # its paths checked to stay inside token_dir
    manifest = json.loads((token_dir / MANIFEST).read_text())
    shards = []
    for out in manifest["outputs"]:
        table = read_doc_table(token_dir / out["path"], columns=["id", "source"])
        shards.append(
            {
                "path": out["path"],
                "sha256": out["sha256"],
                "split": out.get("split"),
                "ids": table["id"].to_pylist(),
                "sources": table["source"].to_pylist(),
            }
        )
    return shards


def document_sources(log: AuditLog, ids: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """Document id -> source, uri, locator, license, from the ingest output shards."""
    found: dict[str, dict[str, Any]] = {}
    for d in _dirs(log, ["ingest.run"]):
        columns = ["id", "source", "uri", "locator", "meta"]
        for row in iter_documents(local_copy(log, d), columns=columns):
            if ids is not None and row["id"] not in ids:
                continue
            try:
                lic = json.loads(row["meta"] or "{}").get("license")
            except (ValueError, AttributeError):
                lic = None
            found.setdefault(
                row["id"],
                {
                    "source": row["source"],
                    "uri": row["uri"],
                    "locator": row["locator"],
                    "license": lic,
                },
            )
    return found


def checkpoints(log: AuditLog) -> list[dict[str, Any]]:
    """Checkpoints put into the store, with the data they were trained on and erasure flags."""
    out: dict[str, dict[str, Any]] = {}
    for e in log.events(action_prefix="store.put"):
        if e.action == "store.put" and e.decision == "allow":
            name = e.object.removeprefix("checkpoint:")
            out[name] = {
                "name": name,
                "created": e.ts,
                "created_by": e.actor,
                "classification": e.details.get("classification"),
                "trained_on": e.details.get("trained_on"),
                "parent": e.details.get("parent"),
                "run": e.details.get("run"),
                "preference_data": e.details.get("preference_data"),
                "affected_by": [],
            }
    # A fine-tuned model learned everything its parent did: it inherits the parent's data.
    for ckpt in out.values():
        seen, parent = {ckpt["name"]}, ckpt["parent"]
        while not ckpt["trained_on"] and parent in out and parent not in seen:
            seen.add(parent)
            ckpt["trained_on"] = out[parent]["trained_on"]
            parent = out[parent]["parent"]
    for e in log.events(action_prefix="audit.erase"):
        for name in e.details.get("affected_checkpoints", []):
            if name in out:
                out[name]["affected_by"].append(e.object)
    return list(out.values())


def evaluations(log: AuditLog, name: str | None = None) -> list[dict[str, Any]]:
    """`eval.run` entries (of checkpoint `name`, or all): who evaluated, when, the scores, task
    versions and data hashes; refused attempts too."""
    out = []
    for e in log.events(action_prefix="eval.run"):
        ckpt = e.object.removeprefix("checkpoint:")
        if e.action != "eval.run" or (name is not None and ckpt != name):
            continue
        out.append(
            {
                "checkpoint": ckpt,
                "ts": e.ts,
                "by": e.actor,
                "decision": e.decision,
                **{k: e.details[k] for k in ("perplexity", "tasks", "reason") if k in e.details},
            }
        )
    return out


def checkpoint_lineage(log: AuditLog, name: str) -> dict[str, Any]:
    ckpt = next((c for c in checkpoints(log) if c["name"] == name), None)
    if ckpt is None:
        raise InputError(f"no store.put of checkpoint {name} in the audit log")
    if not ckpt["trained_on"]:
        raise InputError(
            f"checkpoint {name} does not record its token manifest (metadata token_manifest_sha256)"
        )
    token_dir = token_dirs(log).get(ckpt["trained_on"])
    if token_dir is None:
        raise InputError(
            f"checkpoint {name}: token manifest {ckpt['trained_on'][:16]}... "
            "is not among the recorded tokenize runs"
        )
    shards = token_documents(local_copy(log, token_dir))
    ids = {i for s in shards for i in s["ids"]}
    docs = document_sources(log, ids)
    by_uri: dict[str, dict[str, Any]] = defaultdict(lambda: {"documents": 0, "licenses": set()})
    for i in ids:
        d = docs.get(i, {"uri": "(unknown)", "source": "?", "license": None})
        row = by_uri[d["uri"]]
        row["documents"] += 1
        row["source"] = d["source"]
        if d["license"]:
            row["licenses"].add(d["license"])
    return {
        **ckpt,
        "evaluations": evaluations(log, name),
        "token_dir": str(token_dir),
        "shards": [
            {"path": s["path"], "sha256": s["sha256"], "documents": len(s["ids"])} for s in shards
        ],
        "documents": len(ids),
        "documents_without_source": len(ids - docs.keys()),
        "by_source": dict(Counter(docs[i]["source"] for i in ids if i in docs)),
        "sources": [
            {
                "uri": u,
                "source": r["source"],
                "documents": r["documents"],
                "licenses": sorted(r["licenses"]),
            }
            for u, r in sorted(by_uri.items())
        ],
    }


def document_lineage(log: AuditLog, doc_id: str) -> dict[str, Any]:
    origin = document_sources(log, {doc_id}).get(doc_id)
    placements, shas = [], set()
    for sha, d in token_dirs(log).items():
        hits = shard_hits(local_copy(log, d), doc_id)
        if hits:
            shas.add(sha)
            placements.append(
                {
                    "token_dir": str(d),
                    "manifest_sha256": sha,
                    "shards": sorted({h["shard"] for h in hits}),
                    "copies": len(hits),
                }
            )
    trained = [c["name"] for c in checkpoints(log) if c["trained_on"] in shas]
    return {
        "document": doc_id,
        "origin": origin,
        "token_shards": placements,
        "checkpoints": trained,
    }


def source_lineage(log: AuditLog, uri: str) -> dict[str, Any]:
    ids = sorted(i for i, d in document_sources(log).items() if d["uri"] == uri)
    if not ids:
        raise InputError(f"no ingested documents from source {uri}")
    per_doc = [document_lineage(log, i) for i in ids]
    return {
        "source_uri": uri,
        "documents": ids,
        "token_shards": sorted(
            {(p["token_dir"], s) for d in per_doc for p in d["token_shards"] for s in p["shards"]}
        ),
        "checkpoints": sorted({c for d in per_doc for c in d["checkpoints"]}),
    }


def new_request_id() -> str:
    return "erasure-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def erase(
    log: AuditLog,
    doc_ids: list[str],
    *,
    store: Any = None,
    requested_by: str,
    request: str | None = None,
) -> dict[str, Any]:
    """Rebuild every token-shard folder holding `doc_ids` without them; mark the checkpoints
    trained on the old shards as affected (in the store when one is given) and record it.

    The caller has authenticated `requested_by` and authorised the request (the CLI's
    `audit erase`); ids are recorded as `AuditLog.recorded_id` gives them (personal-looking
    ids as keyed hashes)."""
    if not doc_ids:
        raise InputError("erase needs at least one document id")
    if not requested_by:
        raise InputError("erase needs the authenticated principal that requested it")
    request = request or new_request_id()
    recorded = [log.recorded_id(i) for i in doc_ids[:200]]
    rebuilt, affected = [], []
    for sha, d in token_dirs(log).items():
        local = local_copy(log, d)
        if not any(shard_hits(local, i) for i in doc_ids):
            continue
        if is_remote(d):  # rebuilt locally, then published beside the old prefix
            new_dir: Location = f"{str(d).rstrip('/')}.{request}"
            built = log.home / "cache" / "erasure" / request / local.name
            manifest = rebuild_without(local, doc_ids, built)
            publish(built, str(new_dir), "tokenize", overwrite=False)
            new_sha = sha256_file(built / MANIFEST)
        else:
            new_dir = d.with_name(f"{d.name}.{request}")
            manifest = rebuild_without(d, doc_ids, new_dir)
            new_sha = sha256_file(new_dir / MANIFEST)
        rebuilt.append(
            {
                "old_dir": str(d),
                "old_manifest_sha256": sha,
                "new_dir": str(new_dir),
                "new_manifest_sha256": new_sha,
                "shards_rewritten": manifest["erasure"]["shards_rewritten"],
                "copies_removed": manifest["erasure"]["document_copies_removed"],
            }
        )
        affected += [c["name"] for c in checkpoints(log) if c["trained_on"] == sha]
    affected = sorted(set(affected))
    if store is not None:
        for name in affected:
            store.mark_affected(
                name,
                {
                    "request": request,
                    "reason": "erasure request: trained on shards that held erased documents",
                },
            )
    for r in rebuilt:
        log.append(
            "audit.erase",
            f"request:{request}",
            actor=requested_by,
            decision="ok",
            counts={
                "documents": len(doc_ids),
                "copies_removed": r["copies_removed"],
                "shards_rewritten": len(r["shards_rewritten"]),
                "checkpoints_affected": len(affected),
            },
            details={
                "documents": recorded,
                "new_dir": r["new_dir"],
                "old_manifest_sha256": r["old_manifest_sha256"],
                "new_manifest_sha256": r["new_manifest_sha256"],
                "affected_checkpoints": affected,
            },
        )
    if not rebuilt:
        log.append(
            "audit.erase",
            f"request:{request}",
            actor=requested_by,
            decision="ok",
            counts={"documents": len(doc_ids), "shards_rewritten": 0},
            details={"documents": recorded, "affected_checkpoints": []},
        )
    return {"request": request, "rebuilt": rebuilt, "affected_checkpoints": affected}


def events_between(log: AuditLog, since: str | None, until: str | None) -> list[AuditEvent]:
    return [
        e for e in log.events() if (not since or e.ts >= since) and (not until or e.ts <= until)
    ]
