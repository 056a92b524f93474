"""Tokenize flow: train the tokenizer (one task), encode input shards (mapped, cached), assemble.

Resumable: the trained tokenizer and every encoded input shard live in the workspace cache,
keyed by input sha256, tokenizer hash, settings and code version; a rerun reuses them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import flow, task
from pydantic import Field

from corpusforge.core.settings import StrictModel, TaskRunnerAddress
from corpusforge.flows.common import (
    Progress,
    audit,
    batches,
    io_retrying_task,
    map_batches,
    markdown_table,
    publish_markdown,
    publish_table,
    stage_cache_dir,
    task_runner_for,
)
from corpusforge.flows.workers import compute_each, on_warm_workers
from corpusforge.pipeline.stage_io import (
    StagedOutput,
    check_output_directory,
    prepare_document_inputs,
)
from corpusforge.pipeline.tokenize.config import TokenizeConfig
from corpusforge.pipeline.tokenize.encode import EncodePlan
from corpusforge.pipeline.tokenize.stage import (
    assemble,
    encode_or_reject,
    make_plan,
    plan_inputs,
    prepare_tokenizer,
)


class TokenizeParams(StrictModel):
    input: str = Field(..., description="document shards: a directory, .parquet or .jsonl")
    output: str = Field(..., description="output directory: tokenizer/, train/, val/, manifest")
    config: TokenizeConfig = Field(default_factory=TokenizeConfig)
    task_runner: TaskRunnerAddress | None = Field(
        None, description="dask://HOST:PORT, threads, or processes"
    )
    overwrite: bool = Field(False, description="replace an earlier tokenize output in `output`")
    allow_incomplete: bool = Field(
        False, description="read an input directory without a complete manifest (recorded)"
    )


def _cache_root() -> Path:
    return Path(stage_cache_dir("tokenize"))


@task(task_run_name="train-tokenizer")
def tokenizer_task(shards: list[str], output: str, config: TokenizeConfig) -> dict[str, Any]:
    return prepare_tokenizer([Path(s) for s in shards], output, config, _cache_root())


@io_retrying_task("encode-from-{shards[0]}")
def encode_task(shards: list[str], chunk_root: str, plan: EncodePlan) -> list[dict[str, Any]]:
    """Token chunks of a batch of shards (each cached on its own)."""
    return compute_each(encode_or_reject, [(s, chunk_root, plan) for s in shards])


@flow(name="tokenize", log_prints=True)
def tokenize_flow(params: TokenizeParams) -> dict[str, Any]:
    inputs = prepare_document_inputs(
        params.input,
        _cache_root(),
        allow_incomplete=params.allow_incomplete,
        map_fn=on_warm_workers,
    )
    shards = inputs.shards
    with StagedOutput(params.output, "tokenize", overwrite=params.overwrite) as staged:
        out = str(staged.path)
        tokenizer = tokenizer_task(shards, out, params.config)
        plan, mixture = make_plan([Path(s) for s in shards], out, params.config, tokenizer)
        progress = Progress(len(shards), f"tokenize: {len(shards)} input shards")
        groups = batches(shards, params.config.workers or os.cpu_count() or 1)
        chunks = map_batches(
            encode_task, groups, progress, chunk_root=str(_cache_root() / "chunks"), plan=plan
        )
        manifest = assemble(chunks, out, params.config, tokenizer, mixture, inputs)
        staged.publish()
    _record(manifest, params.output)
    return manifest


def run_tokenize(params: TokenizeParams) -> dict[str, Any]:
    """Run the flow on local worker processes (up to the cores) or on Dask."""
    check_output_directory(Path(params.output), "tokenize", overwrite=params.overwrite)
    n = len(plan_inputs(params.input))
    workers = min(n, params.config.workers or os.cpu_count() or 1)
    return tokenize_flow.with_options(task_runner=task_runner_for(params.task_runner, workers))(
        params
    )


def lineage_summary(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Per shard: split, hash, documents, tokens, sources, and the hash of its document table."""
    return [
        {
            "shard": o["path"],
            "split": o["split"],
            "sha256": o["sha256"],
            "documents": o["rows"],
            "tokens": o["tokens"],
            "sources": {s: v["documents"] for s, v in o["sources"].items()},
            "doc_table_sha256": o["doc_table"]["sha256"],
        }
        for o in manifest["outputs"]
    ]


def _record(manifest: dict[str, Any], output: str) -> None:
    tok = manifest["tokenizer"]
    out = Path(output).resolve()
    audit(
        "tokenize.tokenizer",
        f"sha256:{tok['sha256']}",
        counts={"vocab_size": tok["vocab_size"]},
        details={
            "trained": tok.get("trained", False),
            "reused": tok.get("reused", False),
            "sample_documents": tok.get("sample_documents"),
            "eot_id": tok["eot_id"],
            "pad_id": tok["pad_id"],
        },
    )
    audit(
        "tokenize.run",
        f"dir:{out}",
        counts={
            **manifest["counts"],
            **{f"{k}_tokens": v["tokens"] for k, v in manifest["splits"].items()},
        },
        details={
            "tokenizer_sha256": tok["sha256"],
            "inputs": [i.get("sha256") for i in manifest["inputs"]],
            "shards": lineage_summary(manifest),
            "mixture": (manifest.get("mixture") or {}).get("multipliers"),
            "input_incomplete": manifest.get("input_incomplete", False),
        },
    )
    by_source = manifest["by_source"]
    rows = [
        {
            "source": s,
            "documents": v.get("documents", 0),
            "copies": v.get("copies", 0),
            "tokens": v.get("tokens_out", 0),
            "bytes_per_token": round(v["text_bytes"] / v["text_tokens"], 3)
            if v.get("text_tokens")
            else None,
        }
        for s, v in by_source.items()
    ]
    publish_table("tokenize-sources", rows, "Tokens per source (after mixture sampling)")
    splits = manifest["splits"]
    publish_markdown(
        "tokenize-summary",
        "## Tokenize\n\n"
        f"- tokenizer: `{tok['sha256'][:16]}` vocab {tok['vocab_size']} ({tok['dtype']})\n"
        f"- shards: {len(manifest['outputs'])} "
        f"(train {splits['train']['shards']}, val {splits['val']['shards']})\n"
        f"- tokens: train {splits['train']['tokens']:,}, val {splits['val']['tokens']:,}\n"
        f"- bytes per token: {manifest['bytes_per_token']}\n"
        f"- skipped blank: {manifest['counts'].get('skipped_blank', 0)}, "
        f"rejected inputs: {manifest['counts']['rejected']}\n\n" + markdown_table(rows),
        "Tokenize summary",
    )
