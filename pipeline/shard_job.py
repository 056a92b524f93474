"""The job of a stage that maps one function over its input shards and assembles the results
(PII, filter): the shape both share, on the stage contract (corpusforge.pipeline.stage)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from corpusforge.pipeline.remote import document_stage
from corpusforge.pipeline.stage import JobSteps, StageJob, Units, unit_names, unit_sizes
from corpusforge.pipeline.stage_io import (
    check_output_directory,
    default_cache_root,
    document_inputs,
)


def per_shard_job(
    stage: str,
    step: str,
    unit_fn: Callable[[str, Path, Any], dict[str, Any]],
    assemble: Callable[..., dict[str, Any]],
    input_path: str | Path,
    out_dir: str | Path,
    config: Any,
    cache_root: str | Path | None,
    *,
    overwrite: bool,
    allow_incomplete: bool,
) -> StageJob:
    """`unit_fn(shard, cache_root, config)` for every input shard (input and output may be
    URLs), then `assemble(results, cache_root, out_dir, config, inputs, overwrite=...)`."""

    def steps(input_path, out_dir, cache_root, _index) -> JobSteps:
        check_output_directory(Path(out_dir), stage, overwrite=overwrite)
        cache = Path(cache_root) if cache_root else default_cache_root(out_dir)
        inputs = yield from document_inputs(input_path, cache, allow_incomplete=allow_incomplete)
        shards = inputs.shards
        results = yield Units(
            step,
            unit_fn,
            [(s, cache, config) for s in shards],
            unit_names(shards),
            unit_sizes(shards),
            documents=lambda r: r["counts"].get("in", 0),
        )
        return assemble(results, cache, out_dir, config, inputs, overwrite=overwrite)

    return StageJob(
        stage,
        document_stage(
            stage,
            steps,
            input_path,
            out_dir,
            cache_root,
            overwrite=overwrite,
            allow_incomplete=allow_incomplete,
        ),
    )
