"""One small step per stage of corpus-to-model: what it reads, how it is fingerprinted, how it runs.

A step calls that stage's own `run_<stage>` (a Prefect flow, so it becomes a subflow of the
parent run) and returns the stage manifest. A stage is offered only when its flow module is
installed, so a build without, say, the training stage says so instead of pretending. The stage
flows are imported when their step runs: they load Prefect, torch and the stages' libraries,
which validating a pipeline config does not need.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpusforge.core.errors import ConfigError
from corpusforge.core.hashing import sha256_file
from corpusforge.flows.pipeline_fingerprint import read_fingerprint
from corpusforge.model.config import SFTConfig, TrainConfig
from corpusforge.pipeline.ingest.stage import HUB_PREFIX, expand_inputs
from corpusforge.pipeline.manifest import MANIFEST_NAME, StageRun, read_manifest
from corpusforge.pipeline.pii import scrub_sft_jsonl
from corpusforge.pipeline.remote import (
    is_remote,
    join_location,
    output_exists,
    read_output_bytes,
    source_identity,
)

if TYPE_CHECKING:
    from corpusforge.flows.pipeline_config import PipelineConfig

STAGES = (  # pipeline order
    "ingest",
    "filter",
    "dedup",
    "pii",
    "tokenize",
    "pretrain",
    "finetune",
    "align",
    "eval",
)
# Run only when configured (their section given, or named in `stages`).
OPTIONAL_STAGES = ("align", "eval")
# Stages whose output folder is written with local file APIs (job folders, checkpoint
# metadata); the data stages read and publish fsspec URLs as well (corpusforge.pipeline.remote).
LOCAL_OUTPUT_STAGES = ("pretrain", "finetune", "align", "eval")


@dataclass(frozen=True)
class StepContext:
    config: PipelineConfig
    root: Path | str  # a directory, or a URL prefix (data stages only)

    def stage_dir(self, stage: str) -> Path | str:
        return join_location(self.root, STEPS[stage].dirname)

    def previous(self, stage: str) -> str:
        """The stage whose output `stage` reads: the nearest earlier stage selected in this run
        (so a run without `filter` feeds ingest to dedup), else the nearest available one."""
        selected = self.config.selected_stages()
        have = available_stages()
        earlier = have[: have.index(stage)] if stage in have else []
        chosen = [s for s in earlier if s in selected]
        return chosen[-1] if chosen else previous_stage(stage)

    def upstream(self, stage: str) -> Path | str:
        """The finished output directory `stage` reads: that of the previous stage."""
        prev = self.previous(stage)
        out = self.stage_dir(prev)
        if not output_exists(out, MANIFEST_NAME):
            raise ConfigError(
                f"stage {stage} reads the {prev} output at {out}, which does not exist yet; "
                f"run the {prev} stage first (add it to `stages`)"
            )
        return out


def read_stage_manifest(out_dir: Path | str) -> dict[str, Any]:
    """The manifest of a finished stage output, a directory or a URL prefix."""
    if is_remote(out_dir):
        return json.loads(read_output_bytes(out_dir, MANIFEST_NAME))
    return read_manifest(out_dir)


def _manifest_outputs(out_dir: Path | str) -> list[dict[str, Any]]:
    """Content identity of a finished stage output: its shards' names, hashes and row counts."""
    manifest = read_stage_manifest(out_dir)
    return [{k: o.get(k) for k in ("path", "sha256", "rows")} for o in manifest.get("outputs", [])]


@dataclass(frozen=True)
class Step:
    name: str
    dirname: str
    module: str
    run: Callable[[StepContext], dict[str, Any]]
    input_identity: Callable[[StepContext], Any]
    code_modules: tuple[str, ...] = ()  # modules and packages hashed into the fingerprint

    def stage_config(self, ctx: StepContext) -> Any:
        section = getattr(ctx.config, self.name)
        return section.model_dump(mode="json") if hasattr(section, "model_dump") else section

    def read_result(self, ctx: StepContext) -> dict[str, Any]:
        return read_stage_manifest(ctx.stage_dir(self.name))


def _upstream_identity(stage: str) -> Callable[[StepContext], Any]:
    return lambda ctx: {
        "from": ctx.previous(stage),
        "outputs": _manifest_outputs(ctx.upstream(stage)),
    }


# ---- ingest ------------------------------------------------------------------------------------


def _ingest_inputs(ctx: StepContext) -> Any:
    local = [i for i in ctx.config.inputs if not is_remote(i)]
    remote = [o for i in ctx.config.inputs if is_remote(i) for o in source_identity(i)]
    return [
        {"path": f, "sha256": f if f.startswith(HUB_PREFIX) else sha256_file(f)}
        for f in expand_inputs(local)
    ] + remote


def _run_ingest(ctx: StepContext) -> dict[str, Any]:
    from corpusforge.flows.ingest import IngestParams, run_ingest  # lazy: Prefect

    params = IngestParams(
        inputs=ctx.config.inputs,
        output=str(ctx.stage_dir("ingest")),
        config=ctx.config.ingest,
        task_runner=ctx.config.task_runner,
        overwrite=True,  # the pipeline owns its stage directories (see _FINGERPRINT.json)
    )
    return run_ingest(params)


# Code every stage runs through (document I/O, manifests, text normalisation, flow helpers).
SHARED_CODE = (
    "corpusforge.pipeline.documents",
    "corpusforge.pipeline.manifest",
    "corpusforge.pipeline.stage_io",
    "corpusforge.pipeline.text",
    "corpusforge.flows.common",
)

# ---- filter ------------------------------------------------------------------------------------


def _run_filter(ctx: StepContext) -> dict[str, Any]:
    from corpusforge.flows.filter import FilterParams, run_filter  # lazy: Prefect

    params = FilterParams(
        input=str(ctx.upstream("filter")),
        output=str(ctx.stage_dir("filter")),
        config=ctx.config.filter,
        task_runner=ctx.config.task_runner,
        overwrite=True,  # the pipeline owns its stage directories (see _FINGERPRINT.json)
    )
    return run_filter(params)


# ---- dedup -------------------------------------------------------------------------------------


def _run_dedup(ctx: StepContext) -> dict[str, Any]:
    from corpusforge.flows.dedup import DedupParams, run_dedup  # lazy: Prefect

    params = DedupParams(
        input=str(ctx.upstream("dedup")),
        output=str(ctx.stage_dir("dedup")),
        config=ctx.config.dedup,
        index=ctx.config.dedup_index_dir(),
        task_runner=ctx.config.task_runner,
        overwrite=True,  # the pipeline owns its stage directories (see _FINGERPRINT.json)
    )
    return run_dedup(params)


def _dedup_identity(ctx: StepContext) -> Any:
    # With a persistent index the result also depends on what the index held before.
    index = ctx.config.dedup_index_dir()
    return {**_upstream_identity("dedup")(ctx), "index": index}


# ---- PII -----------------------------------------------------------------------------------------


def _run_pii(ctx: StepContext) -> dict[str, Any]:
    from corpusforge.flows.pii import PiiParams, run_pii  # lazy: Prefect

    params = PiiParams(
        input=str(ctx.upstream("pii")),
        output=str(ctx.stage_dir("pii")),
        config=ctx.config.pii,
        task_runner=ctx.config.task_runner,
        overwrite=True,  # the pipeline owns its stage directories (see _FINGERPRINT.json)
    )
    return run_pii(params)


# ---- tokenize ------------------------------------------------------------------------------------


def _run_tokenize(ctx: StepContext) -> dict[str, Any]:
    from corpusforge.flows.tokenize import TokenizeParams, run_tokenize  # lazy: Prefect

    params = TokenizeParams(
        input=str(ctx.upstream("tokenize")),
        output=str(ctx.stage_dir("tokenize")),
        config=ctx.config.tokenize,
        task_runner=ctx.config.task_runner,
        overwrite=True,  # the pipeline owns its stage directories (see _FINGERPRINT.json)
    )
    return run_tokenize(params)


# ---- pretrain / fine-tune ----------------------------------------------------------------------
# Training writes checkpoints to the store; the stage directory holds the job's config, metrics,
# loss curve and a manifest naming the final checkpoint (what fine-tuning starts from).


def _train_manifest(ctx: StepContext, stage: str, config: Any, summary: dict[str, Any]) -> dict:
    from corpusforge.model.checkpoint import checkpoint_name  # lazy: torch

    out = ctx.stage_dir(stage)
    run = StageRun(stage, out, config, inputs=[], hash_inputs=False)
    run.extra["checkpoint"] = checkpoint_name(config.run_name, summary["steps"])
    run.extra["summary"] = {k: v for k, v in summary.items() if k != "loss_curve"}
    run.counts["steps"] = summary["steps"]
    return run.finish()


def _run_pretrain(ctx: StepContext) -> dict[str, Any]:
    from corpusforge.flows.train import PretrainParams, run_pretrain  # lazy: Prefect

    data = str(ctx.upstream("pretrain"))
    config = TrainConfig.model_validate({**ctx.config.pretrain.model_dump(), "data": data})
    out = ctx.stage_dir("pretrain")
    summary = run_pretrain(PretrainParams(config=config, job_dir=str(out)))
    return _train_manifest(ctx, "pretrain", config, summary)


def _run_finetune(ctx: StepContext) -> dict[str, Any]:
    from corpusforge.flows.train import FinetuneParams, run_finetune  # lazy: Prefect

    base = read_manifest(ctx.upstream("finetune"))["checkpoint"]
    out = ctx.stage_dir("finetune")
    data = _scrub_instructions(ctx, out)
    config = SFTConfig.model_validate(
        {**ctx.config.finetune.model_dump(), "init_from": base, "data": data}
    )
    summary = run_finetune(FinetuneParams(config=config, job_dir=str(out)))
    return _train_manifest(ctx, "finetune", config, summary)


def _scrub_instructions(ctx: StepContext, out: Path) -> str:
    """Instruction data passes through the PII stage (same config) before any training."""
    from corpusforge.flows.common import audit  # lazy: Prefect

    raw = ctx.config.finetune.data
    if not raw:
        raise ConfigError("finetune.data: the instruction-tuning JSONL file is required")
    scrubbed = out / "instructions.scrubbed.jsonl"
    result = scrub_sft_jsonl(raw, scrubbed, ctx.config.pii)
    audit(
        "pii.sft",
        f"sha256:{sha256_file(raw)}",
        counts={**result["counts"], **result["entities_by_type"]},
        details={"output_sha256": sha256_file(scrubbed), "mode": ctx.config.pii.mode},
    )
    return str(scrubbed)


def _finetune_identity(ctx: StepContext) -> Any:
    data = ctx.config.finetune.data
    digest = sha256_file(data) if data and Path(data).is_file() else None
    return {**_upstream_identity("finetune")(ctx), "data": data, "data_sha256": digest}


# ---- align -------------------------------------------------------------------------------------
# Preference tuning (DPO) from the fine-tune stage's checkpoint, through the align flow: the
# preference pairs pass through the PII stage (this pipeline's PII config) before the job sees them.


def _run_align(ctx: StepContext) -> dict[str, Any]:
    from corpusforge.flows.align import AlignParams, run_align  # lazy: Prefect
    from corpusforge.model.config import AlignConfig

    section = ctx.config.align
    if section is None or not section.data:
        raise ConfigError("align.data: the preference JSONL file is required")
    base = read_manifest(ctx.upstream("align"))["checkpoint"]
    out = ctx.stage_dir("align")
    config = AlignConfig.model_validate({**section.model_dump(), "init_from": base})
    summary = run_align(AlignParams(config=config, pii=ctx.config.pii, job_dir=str(out)))
    manifest = _train_manifest(ctx, "align", config, summary)
    return manifest


def _align_identity(ctx: StepContext) -> Any:
    section = ctx.config.align
    data = section.data if section else None
    digest = sha256_file(data) if data and Path(data).is_file() else None
    upstream = ctx.upstream("align")
    return {
        "from": ctx.previous("align"),
        "checkpoint": read_manifest(upstream).get("checkpoint"),
        "fingerprint": (read_fingerprint(upstream) or {}).get("fingerprint"),
        "pii": ctx.config.pii.model_dump(mode="json"),
        "data": data,
        "data_sha256": digest,
    }


# ---- eval ----------------------------------------------------------------------------------------
# The final pretrain, fine-tune and align checkpoints, each scored (perplexity on the tokenize
# output's val split, any configured document sets and benchmark tasks): before and after tuning.


def _trained_checkpoints(ctx: StepContext) -> list[str]:
    names = []
    for stage in ("pretrain", "finetune", "align"):
        out = ctx.stage_dir(stage)
        if (out / "manifest.json").exists():
            names.append(read_manifest(out)["checkpoint"])
    if not names:
        raise ConfigError("stage eval needs a trained checkpoint: run pretrain first")
    return names


def _run_eval(ctx: StepContext) -> dict[str, Any]:
    from corpusforge.flows.evaluate import EvalParams, audit_details, run_evaluate  # lazy
    from corpusforge.model.evaluate import EvalConfig  # lazy: torch

    section = ctx.config.eval
    values = section.model_dump() if section is not None else {"tasks": []}
    tokens = ctx.stage_dir("tokenize")
    out = ctx.stage_dir("eval")
    run = StageRun("eval", out, section or values, inputs=[], hash_inputs=False)
    results = {}
    for name in _trained_checkpoints(ctx):
        config = EvalConfig.model_validate(
            {**values, "checkpoint": name, "tokens": str(tokens) if tokens.is_dir() else None}
        )
        results[name] = audit_details(run_evaluate(EvalParams(config=config)))
    run.extra["evaluations"] = results
    run.counts["checkpoints"] = len(results)
    return run.finish()


def _files_identity(path: Path) -> list[list[str]] | None:
    """(relative name, sha256) of every file under `path` (or of the file itself): the
    content identity of a folder of task files or documents, whatever the tasks read of it."""
    if not path.exists():
        return None  # the run itself says what is missing
    files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
    base = path if path.is_dir() else path.parent
    return [[f.relative_to(base).as_posix(), sha256_file(f)] for f in files]


def _harness_version() -> str | None:
    """The installed lm-eval: its own task YAMLs (prompts, metrics) are part of every task."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lm_eval")
    except PackageNotFoundError:
        return None


def _eval_identity(ctx: StepContext) -> Any:
    """The scored checkpoints (by the fingerprint of the stage that trained them: a retrained
    checkpoint keeps its name), the val split scored, and the contents of the task files and
    document sets: editing a task file reruns the stage, an untouched one does not."""
    identity: dict[str, Any] = {}
    for stage in ("pretrain", "finetune", "align", "tokenize"):
        out = ctx.stage_dir(stage)
        if (out / "manifest.json").exists():
            record = read_fingerprint(out) or {}
            identity[stage] = {
                "checkpoint": read_manifest(out).get("checkpoint"),
                "fingerprint": record.get("fingerprint"),
            }
    section = ctx.config.eval
    if section is not None:
        if section.task_dir and section.tasks != []:
            identity["task_files"] = _files_identity(Path(section.task_dir))
            identity["lm_eval"] = _harness_version()
        identity["data"] = [_files_identity(Path(d)) for d in section.data]
    return identity


STEPS: dict[str, Step] = {
    "ingest": Step(
        name="ingest",
        dirname="documents",
        module="corpusforge.flows.ingest",
        run=_run_ingest,
        input_identity=_ingest_inputs,
        code_modules=("corpusforge.pipeline.ingest", "corpusforge.flows.ingest", *SHARED_CODE),
    ),
    "filter": Step(
        name="filter",
        dirname="filtered",
        module="corpusforge.flows.filter",
        run=_run_filter,
        input_identity=_upstream_identity("filter"),
        code_modules=("corpusforge.pipeline.filter", "corpusforge.flows.filter", *SHARED_CODE),
    ),
    "dedup": Step(
        name="dedup",
        dirname="dedup",
        module="corpusforge.flows.dedup",
        run=_run_dedup,
        input_identity=_dedup_identity,
        code_modules=("corpusforge.pipeline.dedup", "corpusforge.flows.dedup", *SHARED_CODE),
    ),
    "pii": Step(
        name="pii",
        dirname="pii",
        module="corpusforge.flows.pii",
        run=_run_pii,
        input_identity=_upstream_identity("pii"),
        code_modules=(
            "corpusforge.pipeline.pii",
            "corpusforge.pipeline.pii_entities",  # the entity registry: types and placeholders
            "corpusforge.pipeline.special_tokens",
            "corpusforge.flows.pii",
            *SHARED_CODE,
        ),
    ),
    "tokenize": Step(
        name="tokenize",
        dirname="tokens",
        module="corpusforge.flows.tokenize",
        run=_run_tokenize,
        input_identity=_upstream_identity("tokenize"),
        code_modules=(
            "corpusforge.pipeline.tokenize",
            "corpusforge.flows.tokenize",
            "corpusforge.pipeline.special_tokens",
            "corpusforge.pipeline.pii_entities",  # the placeholders among the special tokens
            *SHARED_CODE,
        ),
    ),
    "pretrain": Step(
        name="pretrain",
        dirname="pretrain",
        module="corpusforge.flows.train",
        run=_run_pretrain,
        input_identity=_upstream_identity("pretrain"),
        code_modules=(
            "corpusforge.model",
            "corpusforge.flows.train",
            "corpusforge.pipeline.tokenize.reader",
        ),
    ),
    "finetune": Step(
        name="finetune",
        dirname="finetune",
        module="corpusforge.flows.train",
        run=_run_finetune,
        input_identity=_finetune_identity,
        code_modules=("corpusforge.model", "corpusforge.flows.train"),
    ),
    "align": Step(
        name="align",
        dirname="align",
        module="corpusforge.flows.align",
        run=_run_align,
        input_identity=_align_identity,
        code_modules=("corpusforge.model", "corpusforge.flows.align", "corpusforge.flows.train"),
    ),
    "eval": Step(
        name="eval",
        dirname="eval",
        module="corpusforge.flows.evaluate",
        run=_run_eval,
        input_identity=_eval_identity,
        code_modules=("corpusforge.model.evaluate", "corpusforge.flows.evaluate"),
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
    return [s for s in STAGES if s in STEPS and _module_present(STEPS[s].module)]


def previous_stage(stage: str) -> str:
    """The available stage before `stage` in pipeline order (whose output `stage` reads)."""
    have = available_stages()
    before = [s for s in have[: have.index(stage)]] if stage in have else []
    if not before:
        raise ConfigError(f"stage {stage} has no upstream stage in this build")
    return before[-1]
