"""The end-to-end flow `corpus-to-model`: ingest → filter → dedup → PII → tokenize → pretrain →
fine-tune.

Each stage is a small step (flows/pipeline_steps.py) that calls that stage's own `run_<stage>`
flow, so every stage is a subflow of one parent run in the UI. A stage is skipped when its
output for the same inputs + config + code version already exists: the step's fingerprint is
stored beside its manifest (`_FINGERPRINT.json`) and compared before the stage runs. A stage
interrupted half-way has no fingerprint, so it reruns, and its own per-shard resume decides
what is redone.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from typing import Any

from prefect import flow

from corpusforge.core.errors import ConfigError
from corpusforge.core.workspace import Workspace
from corpusforge.flows.common import (
    audit,
    markdown_table,
    publish_markdown,
    publish_table,
)
from corpusforge.flows.pipeline_batches import (
    TRAIN_STAGES,
    corpus_config,
    pin_tokenizer,
    plan_batch,
    record_batch,
)
from corpusforge.flows.pipeline_config import STAGES, PipelineConfig, load_config
from corpusforge.flows.pipeline_fingerprint import (
    invalidate,
    is_complete,
    read_fingerprint,
    source_version,
    stage_fingerprint,
    write_fingerprint,
)
from corpusforge.flows.pipeline_steps import STEPS, StepContext, available_stages
from corpusforge.flows.workers import prestart
from corpusforge.pipeline.remote import audit_object, join_location

__all__ = [
    "STAGES",
    "PipelineConfig",
    "available_stages",
    "corpus_to_model",
    "load_config",
    "run_pipeline",
    "start_workers",
]

Reporter = Callable[[str, str, dict[str, Any]], None]
"""(stage, event, info): event is 'start', 'ran' or 'skipped'; for progress displays."""

_reporter: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar(
    "corpusforge_pipeline_reporter", default=None
)


def _report(stage: str, event: str, info: dict[str, Any]) -> None:
    if (reporter := _reporter.get()) is not None:
        reporter(stage, event, info)


def _run_stage(name: str, config: PipelineConfig, force: bool) -> dict[str, Any]:
    step = STEPS[name]
    ctx = StepContext(config=config, root=config.output_root())
    out_dir = ctx.stage_dir(name)
    code = source_version(step.code_modules)
    fingerprint = stage_fingerprint(name, step.input_identity(ctx), step.stage_config(ctx), code)
    if not force and is_complete(out_dir, fingerprint):
        manifest = step.read_result(ctx)
        info = {
            "status": "skipped",
            "fingerprint": fingerprint,
            "manifest": manifest,
            "output": str(out_dir),
        }
        _report(name, "skipped", info)
        audit(
            "pipeline.stage",
            audit_object(out_dir),
            counts=manifest.get("counts", {}),
            details={"stage": name, "fingerprint": fingerprint},
            decision="skipped",
        )
        return info
    _report(name, "start", {"fingerprint": fingerprint})
    invalidate(out_dir)  # a crash from here on must not leave an older fingerprint valid
    t0 = time.perf_counter()
    manifest = step.run(ctx)
    write_fingerprint(out_dir, name, fingerprint, code)
    seconds = round(time.perf_counter() - t0, 3)
    info = {
        "status": "ran",
        "fingerprint": fingerprint,
        "manifest": manifest,
        "seconds": seconds,
        "output": str(out_dir),
    }
    _report(name, "ran", info)
    audit(
        "pipeline.stage",
        audit_object(out_dir),
        counts=manifest.get("counts", {}),
        details={"stage": name, "fingerprint": fingerprint, "seconds": seconds},
        decision="ran",
    )
    return info


@flow(name="corpus-to-model", log_prints=True)
def corpus_to_model(config: PipelineConfig, force: bool = False) -> dict[str, Any]:
    """Run the configured stages in order; each is a subflow, skipped when already done.

    Incremental: the data stages run on a batch of the new input files, and the training
    stages on the corpus of every finished batch (`<output>/corpus/`, flows/pipeline_batches.py).
    """
    selected = config.selected_stages()
    train = [s for s in selected if s in TRAIN_STAGES]
    if not config.incremental:
        if len(train) < len(selected):  # a no-op if run_pipeline started them
            start_workers(config)
        results = {name: _run_stage(name, config, force) for name in selected}
        return _finish(config, config, results)
    results: dict[str, Any] = {}
    run_config = config
    if len(train) < len(selected):
        new_files, batch = plan_batch(config)
        if batch is not None:
            start_workers(config)
            for name in batch.selected_stages():
                results[name] = _run_stage(name, batch, force)
            record_batch(config, new_files, batch)
            run_config = batch
        elif not train:
            publish_markdown(
                "pipeline-summary",
                f"## corpus-to-model: {config.name}\n\nNo new input files: nothing to do.",
                "What the pipeline did",
            )
            audit("pipeline.run", f"pipeline:{config.name}", counts={"new_files": 0})
            return {"name": config.name, "output": str(config.output_root()), "stages": {}}
    if train:
        corpus = corpus_config(config, train)
        for name in corpus.selected_stages():
            label = f"corpus-{name}" if name in results else name
            results[label] = _run_stage(name, corpus, force)
            if name == "tokenize":
                pin_tokenizer(config)
        run_config = corpus
    return _finish(config, run_config, results)


def _finish(config: PipelineConfig, run_config: PipelineConfig, results: dict[str, Any]) -> dict:
    _publish(run_config, results)
    stages = list(results)
    audit(
        "pipeline.run",
        f"pipeline:{config.name}",
        counts={
            "ran": sum(r["status"] == "ran" for r in results.values()),
            "skipped": sum(r["status"] == "skipped" for r in results.values()),
        },
        details={"stages": stages, "output": str(run_config.output_root())},
    )
    return {"name": config.name, "output": str(run_config.output_root()), "stages": results}


def start_workers(config: PipelineConfig) -> None:
    """Start the data stages' local workers now: call it before anything starts a thread
    (Prefect, a progress bar), so they are plain forks of this process
    (corpusforge.flows.workers)."""
    if config.task_runner in (None, "processes"):
        prestart()


def run_pipeline(
    config: PipelineConfig, *, force: bool = False, reporter: Reporter | None = None
) -> dict[str, Any]:
    """Run `corpus-to-model`; `reporter(stage, event, info)` hears about each stage."""
    start_workers(config)
    token = _reporter.set(reporter)
    try:
        return corpus_to_model(config, force=force)
    finally:
        _reporter.reset(token)


def _publish(config: PipelineConfig, results: dict[str, Any]) -> None:
    rows = []
    for name, r in results.items():
        counts = r["manifest"].get("counts", {})
        rows.append(
            {
                "stage": name,
                "status": r["status"],
                "in": counts.get("in", ""),
                "out": counts.get("out", ""),
                "rejected": counts.get("rejected", ""),
                "seconds": r.get("seconds", 0.0),
                "fingerprint": r["fingerprint"][:16],
                "output": r.get("output", ""),
            }
        )
    publish_table("pipeline-stages", rows, "Stages of corpus-to-model: ran or skipped (cached)")

    ws = Workspace.resolve()
    publish_markdown(
        "pipeline-summary",
        f"## corpus-to-model: {config.name}\n\n"
        + markdown_table([{k: v for k, v in r.items() if k != "output"} for r in rows])
        + f"\n\nOutputs under `{config.output_root()}`. A stage is skipped when its fingerprint "
        "(inputs + config + code version) matches `_FINGERPRINT.json` beside its manifest.\n\n"
        f"Audit log: `{ws.audit_url}` — verify with `corpusforge audit verify "
        f"--workspace {ws.root}`, read with `corpusforge audit log --workspace {ws.root}`.",
        "What the pipeline did and where the audit report is",
    )


def previous_fingerprint(config: PipelineConfig, stage: str) -> str | None:
    """The fingerprint recorded for `stage`'s output, if any (for status displays)."""
    if stage not in STEPS:
        raise ConfigError(f"unknown stage {stage!r}")
    record = read_fingerprint(join_location(config.output_root(), STEPS[stage].dirname))
    return record.get("fingerprint") if record else None
