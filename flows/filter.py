"""Filter flow: the filter job on the Prefect driver (tasks over batches of input shards on
worker processes), then audit (counts only) and artifacts: a table of removal reasons and a bar
chart of them. A rerun reuses every shard whose result is cached (same shard, config, code)."""

from __future__ import annotations

import base64
import io
from typing import Any

from prefect import flow
from pydantic import Field

from corpusforge.flows.common import (
    audit,
    audit_each,
    markdown_table,
    publish_markdown,
    publish_table,
    stage_cache_dir,
)
from corpusforge.flows.stage_driver import ShardStageParams, run_and_record, run_stage_flow
from corpusforge.pipeline.filter.config import FilterConfig
from corpusforge.pipeline.filter.stage import filter_job
from corpusforge.pipeline.remote import audit_object, count_units


class FilterParams(ShardStageParams):
    config: FilterConfig = Field(default_factory=FilterConfig)
    workers: int | None = Field(None, ge=1, description="worker processes (default: cores)")


@flow(name="filter", log_prints=True)
def filter_flow(params: FilterParams) -> dict[str, Any]:
    job = filter_job(
        params.input,
        params.output,
        params.config,
        stage_cache_dir("filter"),
        overwrite=params.overwrite,
        allow_incomplete=params.allow_incomplete,
    )
    return run_and_record(job, lambda manifest: _record(manifest, params.output), params.workers)


def run_filter(params: FilterParams) -> dict[str, Any]:
    """Run the flow on local worker processes (one per shard, up to the cores) or on Dask."""
    return run_stage_flow(
        filter_flow,
        params,
        stage="filter",
        inputs=[params.input],
        units=lambda: count_units(params.input),
        workers=params.workers,
    )


def reason_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per removal reason (filter.rule) with its count, most frequent first."""
    return [
        {"filter": reason.split(".", 1)[0], "rule": reason.split(".", 1)[-1], "removed": n}
        for reason, n in sorted(manifest.get("removed_by_rule", {}).items(), key=lambda kv: -kv[1])
    ]


def reasons_chart_png(rows: list[dict[str, Any]]) -> bytes:
    """A horizontal bar chart of removals per reason."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['filter']}.{r['rule']}" for r in rows] or ["(nothing removed)"]
    values = [r["removed"] for r in rows] or [0]
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(labels) + 1.2), dpi=100)
    ax.barh(labels[::-1], values[::-1], color="#4c72b0")
    ax.set(xlabel="documents removed", title="Filter: documents removed per reason")
    ax.grid(axis="x", alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _record(manifest: dict[str, Any], output: str) -> None:
    """Audit entries and artifacts: ids, hashes and counts only."""
    audit_each(
        "filter.shard",
        [
            {
                "object": f"sha256:{i['sha256']}",
                "counts": i["counts"],
                "details": {"path": i["path"], "cached": i["cached"]},
            }
            for i in manifest["inputs"]
            if "counts" in i
        ],
    )
    counts = manifest["counts"]
    by_rule = manifest.get("removed_by_rule", {})
    audit(
        "filter.run",
        audit_object(output),
        counts={
            **counts,
            **{f"rule.{k}": v for k, v in by_rule.items()},
            **{f"lines.c4_quality.{k}": v for k, v in manifest.get("c4_lines_removed", {}).items()},
        },
        details={
            "shards": [o["sha256"] for o in manifest["outputs"]],
            "by_source": manifest.get("by_source", {}),
            "languages": manifest.get("languages", {}),
            "input_incomplete": manifest.get("input_incomplete", False),
        },
    )
    rows = reason_rows(manifest)
    publish_table("filter-reasons", rows, "Documents removed by the filter, per reason")
    png = reasons_chart_png(rows)
    sources = _aligned("source", manifest.get("by_source", {}))
    languages = _aligned("language", manifest.get("languages", {}))
    publish_markdown(
        "filter-summary",
        "## Filter\n\n"
        f"- documents in: {counts['in']}, out: {counts['out']}, removed: {counts['removed']}, "
        f"rejected: {counts['rejected']}\n"
        f"- edited by C4's line removal: {counts.get('lines_edited', 0)}\n"
        f"- shards: {counts.get('shards', 0)} ({counts.get('shards_cached', 0)} reused)\n\n"
        f"![reasons](data:image/png;base64,{base64.b64encode(png).decode()})\n\n"
        "### Removed per reason\n\n"
        + markdown_table(rows)
        + "\n\n### Lines removed by C4's line rules (the documents are kept)\n\n"
        + markdown_table(
            [{"rule": k, "lines": v} for k, v in manifest.get("c4_lines_removed", {}).items()]
        )
        + "\n\n### Per source\n\n"
        + markdown_table(sources)
        + "\n\n### Languages\n\n"
        + markdown_table(languages),
        "Filter summary (counts only)",
    )


def _aligned(label: str, table: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Rows with the same columns (a count a row lacks is 0), for a Markdown table."""
    cols = sorted({k for c in table.values() for k in c}, key=lambda k: (k != "in", k != "out", k))
    return [{label: name, **{k: c.get(k, 0) for k in cols}} for name, c in table.items()]
