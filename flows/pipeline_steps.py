"""One small step per stage of corpus-to-model: what it reads, how it is fingerprinted, how it runs.

A step calls that stage's own `run_<stage>` (a Prefect flow, so it becomes a subflow of the
parent run) and returns the stage manifest. A stage is offered only when its flow module is
installed, so a build without, say, the training stage says so instead of pretending.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpusforge.errors import ConfigError
from corpusforge.hashing import sha256_file
from pipeline.manifest import read_manifest

if TYPE_CHECKING:
    from flows.pipeline_config import PipelineConfig


@dataclass(frozen=True)
class StepContext:
    config: PipelineConfig
    root: Path

    def stage_dir(self, stage: str) -> Path:
        return self.root / STEPS[stage].dirname

    def upstream(self, stage: str) -> Path:
        """The finished output directory `stage` reads (the previous stage's)."""
        prev = STEPS[stage].reads
        out = self.stage_dir(prev)
        if not (out / "manifest.json").exists():
            raise ConfigError(
                f"stage {stage} reads the {prev} output at {out}, which does not exist yet; "
                f"run the {prev} stage first (add it to `stages`)"
            )
        return out


def _manifest_outputs(out_dir: Path) -> list[dict[str, Any]]:
    """Content identity of a finished stage output: its shards' names, hashes and row counts."""
    manifest = read_manifest(out_dir)
    return [{k: o.get(k) for k in ("path", "sha256", "rows")} for o in manifest.get("outputs", [])]


@dataclass(frozen=True)
class Step:
    name: str
    dirname: str
    module: str
    reads: str | None
    run: Callable[[StepContext], dict[str, Any]]
    input_identity: Callable[[StepContext], Any]
    code_paths: tuple[str, ...] = ()

    def stage_config(self, ctx: StepContext) -> Any:
        section = getattr(ctx.config, self.name)
        return section.model_dump(mode="json") if hasattr(section, "model_dump") else section

    def read_result(self, ctx: StepContext) -> dict[str, Any]:
        return read_manifest(ctx.stage_dir(self.name))


def _upstream_identity(stage: str) -> Callable[[StepContext], Any]:
    return lambda ctx: _manifest_outputs(ctx.upstream(stage))


# ---- ingest ------------------------------------------------------------------------------------


def _ingest_inputs(ctx: StepContext) -> Any:
    from pipeline.ingest.stage import HUB_PREFIX, expand_inputs

    return [
        {"path": f, "sha256": f if f.startswith(HUB_PREFIX) else sha256_file(f)}
        for f in expand_inputs(ctx.config.inputs)
    ]


def _run_ingest(ctx: StepContext) -> dict[str, Any]:
    from flows.ingest import IngestParams, run_ingest

    params = IngestParams(
        inputs=ctx.config.inputs,
        output=str(ctx.stage_dir("ingest")),
        config=ctx.config.ingest,
        task_runner=ctx.config.task_runner,
    )
    return run_ingest(params)


# Code every stage runs through (document I/O, manifests, text normalisation, flow helpers).
SHARED_CODE = (
    "pipeline/documents.py",
    "pipeline/manifest.py",
    "pipeline/text.py",
    "flows/common.py",
)

STEPS: dict[str, Step] = {
    "ingest": Step(
        name="ingest",
        dirname="documents",
        module="flows.ingest",
        reads=None,
        run=_run_ingest,
        input_identity=_ingest_inputs,
        code_paths=("pipeline/ingest", "flows/ingest.py", *SHARED_CODE),
    ),
}


@cache
def _module_present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def available_stages() -> list[str]:
    """Stages this build can run, in pipeline order."""
    from flows.pipeline_config import STAGES

    return [s for s in STAGES if s in STEPS and _module_present(STEPS[s].module)]


def validate_stage_config(stage: str, section: Any) -> None:
    """Stage sections given as mappings are checked against the stage's own config model."""
    validator = _SECTION_MODELS.get(stage)
    if validator is not None and isinstance(section, dict):
        validator().model_validate(section)


_SECTION_MODELS: dict[str, Callable[[], Any]] = {}
