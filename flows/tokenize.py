"""Tokenize flow: the tokenize stage job (train the tokenizer, encode input shards, cut token
shards; see corpusforge.pipeline.tokenize.stage) on the Prefect driver, then audit and artifacts.

Resumable: the trained tokenizer and every encoded input shard live in the workspace cache,
keyed by input sha256, tokenizer hash, settings and code version; a rerun reuses them.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from pydantic import Field

from corpusforge.flows.common import (
    audit,
    markdown_table,
    publish_markdown,
    publish_table,
    stage_cache_dir,
)
from corpusforge.flows.stage_driver import ShardStageParams, run_and_record, run_stage_flow
from corpusforge.pipeline.remote import audit_object, count_units
from corpusforge.pipeline.tokenize.config import TokenizeConfig
from corpusforge.pipeline.tokenize.stage import tokenize_job


class TokenizeParams(ShardStageParams):
    config: TokenizeConfig = Field(default_factory=TokenizeConfig)


@flow(name="tokenize", log_prints=True)
def tokenize_flow(params: TokenizeParams) -> dict[str, Any]:
    job = tokenize_job(
        params.input,
        params.output,
        params.config,
        stage_cache_dir("tokenize"),
        overwrite=params.overwrite,
        allow_incomplete=params.allow_incomplete,
    )
    return run_and_record(job, lambda manifest: _record(manifest, params.output))


def run_tokenize(params: TokenizeParams) -> dict[str, Any]:
    """Run the flow on local worker processes (up to the cores) or on Dask."""
    return run_stage_flow(
        tokenize_flow,
        params,
        stage="tokenize",
        inputs=[params.input],
        units=lambda: count_units(params.input),
        workers=params.config.workers,
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
        audit_object(output),
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
