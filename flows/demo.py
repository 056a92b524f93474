"""The demo: the whole workflow on the embedded sample corpus, as one parent flow run.

Each stage runs as a subflow, so the Prefect UI shows the demo as one run with the stages
(and their artifacts) beneath it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow

from flows.ingest import IngestParams, run_ingest
from pipeline.ingest.config import IngestConfig

Report = Callable[[str], None]


@flow(name="corpusforge-demo", log_prints=True)
def demo_flow(root: str, seed: int = 0, report: Report = print) -> dict[str, Any]:
    from pipeline.sample import write_sample

    base = Path(root)
    summary: dict[str, Any] = {"root": str(base)}

    report("sample: writing the embedded sample corpus (WARC, Gutenberg, MediaWiki, SFT)")
    sample_dir = base / "sample"
    summary["sample"] = write_sample(sample_dir, seed=seed)

    report("ingest: extracting documents from web, book and wiki sources")
    docs = base / "documents"
    sources = [str(sample_dir / d) for d in ("web", "books", "wiki")]
    manifest = run_ingest(IngestParams(inputs=sources, output=str(docs), config=IngestConfig()))
    summary["ingest"] = {"output": str(docs), **manifest["counts"]}
    summary["ingest"]["by_source"] = manifest.get("by_source", {})
    return summary
