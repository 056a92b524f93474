"""Lineage of token shards: where a document lives, and erasing documents (GDPR requests).

`rebuild_without` writes a new output directory without the given documents: shards that
hold none of them are copied byte for byte, the others are rewritten from their own tokens
(no re-encoding, so the remaining documents keep their exact token ids). The tokenizer is
copied unchanged: its merges are corpus statistics, not stored documents (see docs/tokenize.md).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from corpusforge.core.hashing import sha256_file
from corpusforge.pipeline.manifest import (
    MANIFEST_NAME,
    REJECTS_NAME,
    read_manifest,
    write_json_atomic,
)
from corpusforge.pipeline.tokenize.shard_format import map_tokens, verify_shard
from corpusforge.pipeline.tokenize.shards import (
    docs_path_for,
    find_rows,
    read_doc_table,
    write_shard,
)


def document_lineage(tokenize_out_dir: str | Path, doc_id: str) -> list[dict[str, Any]]:
    """Every place `doc_id` occupies in the token shards (one entry per copy).

    Each entry: split, shard (path relative to the output dir), shard_sha256, doc_index
    (position in the shard's document index), token_start, tokens, copy, source.
    """
    root = Path(tokenize_out_dir)
    hits: list[dict[str, Any]] = []
    for record in read_manifest(root)["outputs"]:
        table = read_doc_table(root / record["path"])
        rows = np.flatnonzero(find_rows(table, {doc_id}))
        for r in rows.tolist():
            hits.append(
                {
                    "split": record["split"],
                    "shard": record["path"],
                    "shard_sha256": record["sha256"],
                    "doc_index": r,
                    "token_start": table["start"][r].as_py(),
                    "tokens": table["tokens"][r].as_py(),
                    "copy": table["copy"][r].as_py(),
                    "source": table["source"][r].as_py(),
                }
            )
    return hits


def rebuild_without(
    tokenize_out_dir: str | Path, doc_ids: Iterable[str], out_dir: str | Path
) -> dict[str, Any]:
    """Write `out_dir` = `tokenize_out_dir` minus `doc_ids`; return the new manifest.

    The manifest gains an `erasure` record: how many documents and shards were affected, the
    sha256 of the sorted erased ids (the ids themselves stay out of the manifest) and the
    previous manifest's sha256.
    """
    src, dst = Path(tokenize_out_dir), Path(out_dir)
    if src.resolve() == dst.resolve():
        raise ValueError("rebuild_without needs a new output directory")
    erase = {str(i) for i in doc_ids}
    manifest = read_manifest(src)
    dtype = np.dtype(manifest["tokenizer"]["dtype"])
    dst.mkdir(parents=True, exist_ok=True)
    tok_dir = manifest["tokenizer"]["dir"]
    shutil.rmtree(dst / tok_dir, ignore_errors=True)
    shutil.copytree(src / tok_dir, dst / tok_dir)
    outputs, rewritten, removed = [], [], 0
    for record in manifest["outputs"]:
        shard = src / record["path"]
        (dst / record["path"]).parent.mkdir(parents=True, exist_ok=True)
        table = read_doc_table(shard)
        drop = find_rows(table, erase)
        if not drop.any():
            shutil.copyfile(shard, dst / record["path"])
            shutil.copyfile(docs_path_for(shard), docs_path_for(dst / record["path"]))
            outputs.append(record)
            continue
        header = verify_shard(shard)  # never rebuild from a corrupt shard
        tokens = map_tokens(shard, header)
        keep = table.filter(~drop)
        starts = keep["start"].to_numpy()
        lengths = keep["tokens"].to_numpy()
        kept_tokens = (
            np.concatenate([tokens[s : s + n] for s, n in zip(starts, lengths, strict=True)])
            if len(keep)
            else np.zeros(0, dtype=dtype)
        )
        removed += int(drop.sum())
        rewritten.append(record["path"])
        outputs.append(
            write_shard(
                dst, record["path"], record["split"], dtype, kept_tokens, keep.drop(["start"])
            )
        )
    for split, stats in manifest["splits"].items():
        mine = [o for o in outputs if o["split"] == split]
        stats.update(
            shards=len(mine),
            tokens=sum(o["tokens"] for o in mine),
            documents=sum(o["rows"] for o in mine),
        )
    manifest["outputs"] = outputs
    manifest["counts"]["out"] = sum(o["rows"] for o in outputs)
    manifest["erasure"] = {
        "documents_requested": len(erase),
        "document_copies_removed": removed,
        "shards_rewritten": rewritten,
        "erased_ids_sha256": hashlib.sha256("\n".join(sorted(erase)).encode()).hexdigest(),
        "previous_manifest_sha256": sha256_file(src / MANIFEST_NAME),
    }
    if (src / REJECTS_NAME).exists():
        shutil.copyfile(src / REJECTS_NAME, dst / REJECTS_NAME)
    write_json_atomic(dst / MANIFEST_NAME, manifest)
    return manifest
