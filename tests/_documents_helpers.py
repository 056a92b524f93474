"""Test corpora as complete stage outputs: shards plus the manifest every stage requires."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from corpusforge.core.hashing import sha256_file
from corpusforge.pipeline.manifest import StageRun


def seal(directory: str | Path, stage: str = "dataset") -> Path:
    """Write a manifest listing every `*.parquet` shard of `directory` (rows, sha256)."""
    directory = Path(directory)
    run = StageRun(stage, directory)
    shards = sorted(directory.glob("*.parquet"))
    run.add_outputs(
        {"path": s.name, "rows": pq.read_metadata(s).num_rows, "sha256": sha256_file(s)}
        for s in shards
    )
    run.counts["in"] = sum(o["rows"] for o in run.outputs)
    run.finish()
    return directory
