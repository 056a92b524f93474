"""`PipelineConfig`: one YAML file describes one corpus-to-model pipeline (validated).

Stage sections are the stages' own config models (ingest: `IngestConfig`, ...), so a typo or a
bad value fails at load time with the YAML path of the problem, before anything runs.
Relative paths are resolved against the YAML file's directory. Inputs, the output root and the
dedup index may be fsspec URLs (`s3://bucket/prefix`, ...), as the stage commands take them:
the data stages then read and publish there (the training stages keep a local output).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from corpusforge.core.errors import ConfigError, InputError
from corpusforge.core.settings import (
    LocalPathOrUrl,
    StrictModel,
    TaskRunnerAddress,
    load_yaml_file,
    validate,
)
from corpusforge.flows.pipeline_steps import (
    LOCAL_OUTPUT_STAGES,
    OPTIONAL_STAGES,
    STAGES,
    available_stages,
)
from corpusforge.model.config import AlignSection, FinetuneSection, PretrainSection
from corpusforge.pipeline.dedup.config import DedupConfig
from corpusforge.pipeline.filter.config import FilterConfig
from corpusforge.pipeline.ingest.config import IngestConfig
from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.remote import (
    is_remote,
    is_url,
    join_location,
    location_exists,
    redact,
)
from corpusforge.pipeline.tokenize.config import TokenizeConfig

StageName = Literal[
    "ingest", "filter", "dedup", "pii", "tokenize", "pretrain", "finetune", "align", "eval"
]


class EvalSection(StrictModel):
    """The optional eval stage: every trained checkpoint of the run, scored (the pipeline
    fills in the checkpoints and the val split of the tokenize output)."""

    tasks: list[str] | None = Field(
        None, description="lm-eval tasks (default: every standard benchmark in task_dir)"
    )
    task_dir: str | None = Field(None, description="local task files (docs/evaluation.md)")
    data: list[str] = Field(default_factory=list, description="document sets: perplexity")
    max_tokens: int = Field(200_000, ge=1)
    batch_size: int = Field(8, ge=1)
    limit: int | None = Field(None, ge=1)
    num_fewshot: int | None = Field(None, ge=0)


class PipelineConfig(StrictModel):
    """Everything one pipeline run needs; stored (as JSON) in every stage fingerprint."""

    name: str = Field("corpus-to-model", min_length=1, description="label in the UI and audit")
    inputs: list[LocalPathOrUrl] = Field(
        ..., min_length=1, description="source files or directories (a drop folder) for ingest"
    )
    output: LocalPathOrUrl = Field(..., description="root directory of the stage outputs")
    stages: list[StageName] | None = Field(
        None, description="stages to run, in pipeline order (default: every stage available)"
    )
    task_runner: TaskRunnerAddress | None = Field(
        None, description="where data-stage tasks run: local processes (default), dask://HOST:PORT"
    )
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    filter: FilterConfig = Field(
        default_factory=FilterConfig,
        description="language ID and quality rules between ingest and dedup (per-source policy)",
    )
    incremental: bool = Field(
        False,
        description="process only input files not done before, as a new batch under "
        "output/batches/, deduplicated against all earlier batches (persistent dedup index)",
    )
    dedup_index: LocalPathOrUrl | None = Field(
        None,
        description="persistent dedup index directory (default with incremental: "
        "output/dedup-index); documents are also deduplicated against it",
    )
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    pii: PiiConfig = Field(default_factory=PiiConfig)
    tokenize: TokenizeConfig = Field(default_factory=TokenizeConfig)
    pretrain: PretrainSection = Field(
        default_factory=PretrainSection,
        description="corpusforge.model.config.TrainConfig fields; `data` is the tokenize output",
    )
    finetune: FinetuneSection = Field(
        default_factory=FinetuneSection,
        description="corpusforge.model.config.SFTConfig fields; `data` is the SFT JSONL file, "
        "`init_from` the pretrain stage's final checkpoint",
    )
    align: AlignSection | None = Field(
        None,
        description="preference tuning (DPO) of the fine-tuned checkpoint: "
        "corpusforge.model.config.AlignConfig fields; `data` is the preference JSONL file "
        "(optional stage; off when absent)",
    )
    eval: EvalSection | None = Field(
        None, description="score the trained checkpoints (optional stage; off when absent)"
    )

    @model_validator(mode="after")
    def _check_stages(self) -> PipelineConfig:
        if self.stages is not None:
            if not self.stages:
                raise ValueError("stages: give at least one stage, or leave it out for all")
            missing = [s for s in self.stages if s not in available_stages()]
            if missing:
                raise ValueError(
                    f"stages {missing} are not available in this build "
                    f"(available: {', '.join(available_stages())})"
                )
            self.stages = [s for s in STAGES if s in self.stages]
        if "finetune" in self.selected_stages() and not self.finetune.data:
            raise ValueError("finetune.data: Field required (the instruction-tuning JSONL file)")
        if "align" in self.selected_stages() and not (self.align and self.align.data):
            raise ValueError("align.data: Field required (the preference JSONL file)")
        if is_remote(self.output):
            local_only = [s for s in self.selected_stages() if s in LOCAL_OUTPUT_STAGES]
            if local_only:
                raise ValueError(
                    f"output: {redact(self.output)} is a URL, and stages {local_only} write "
                    "their job folders locally; list the data stages in `stages`, or give "
                    "a local output"
                )
            if self.incremental:
                raise ValueError(
                    f"output: {redact(self.output)} is a URL; incremental runs keep their "
                    "batches and ledger in a local output directory"
                )
        return self

    def selected_stages(self) -> list[str]:
        if self.stages:
            return list(self.stages)
        optional = [s for s in OPTIONAL_STAGES if getattr(self, s) is None]
        return [s for s in available_stages() if s not in optional]

    def output_root(self) -> Path | str:
        """The output directory, or the URL prefix (s3://..., any fsspec URL)."""
        if is_remote(self.output):
            return self.output.rstrip("/")
        return Path(self.output).expanduser().resolve()

    def dedup_index_dir(self) -> str | None:
        if self.dedup_index:
            if is_remote(self.dedup_index):
                return self.dedup_index
            return str(Path(self.dedup_index).expanduser().resolve())
        return str(join_location(self.output_root(), "dedup-index")) if self.incremental else None


def check_inputs(config: PipelineConfig, where: str = "config") -> None:
    """Raise ConfigError naming the first input of `config` that does not exist (a local path,
    or an object or prefix at an fsspec URL, looked up with the backend's own credentials):
    the sources when ingest runs, the instruction file when fine-tuning runs, a given
    tokenizer directory when tokenize runs. A `hf://` hub dataset is checked when read."""
    stages = config.selected_stages()
    named: list[tuple[str, str | None]] = []
    if "ingest" in stages:
        named += [(f"inputs[{i}]", p) for i, p in enumerate(config.inputs)]
    if "tokenize" in stages:
        named.append(("tokenize.tokenizer_dir", config.tokenize.tokenizer_dir))
    if "finetune" in stages:
        named.append(("finetune.data", config.finetune.data))
    if "align" in stages and config.align:
        named.append(("align.data", config.align.data))
    for field, value in named:
        if not value or (is_url(value) and not is_remote(value)):
            continue
        try:
            exists = location_exists(value)
        except InputError as exc:  # the backend refused (credentials, endpoint): say which
            raise ConfigError(f"{where}: {field}: {exc}") from None
        if not exists:
            raise ConfigError(f"{where}: {field}: {redact(value)} does not exist")


def _resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    def resolve(p: str) -> str:
        if "://" in p:
            return p
        path = Path(p).expanduser()
        return str(path if path.is_absolute() else (base / path).resolve())

    out = dict(raw)
    if isinstance(out.get("inputs"), list):
        out["inputs"] = [resolve(str(p)) if isinstance(p, str) else p for p in out["inputs"]]
    for key in ("output", "dedup_index"):
        if isinstance(out.get(key), str):
            out[key] = resolve(out[key])
    finetune = out.get("finetune")
    if isinstance(finetune, dict) and isinstance(finetune.get("data"), str):
        out["finetune"] = {**finetune, "data": resolve(finetune["data"])}
    align = out.get("align")
    if isinstance(align, dict) and isinstance(align.get("data"), str):
        out["align"] = {**align, "data": resolve(align["data"])}
    evaluation = out.get("eval")
    if isinstance(evaluation, dict):
        if isinstance(evaluation.get("task_dir"), str):
            evaluation = {**evaluation, "task_dir": resolve(evaluation["task_dir"])}
        if isinstance(evaluation.get("data"), list):
            evaluation = {
                **evaluation,
                "data": [resolve(d) if isinstance(d, str) else d for d in evaluation["data"]],
            }
        out["eval"] = evaluation
    return out


def parse_config(raw: Any, *, base: Path | None = None, where: str = "config") -> PipelineConfig:
    """Validate a config mapping; errors become one-line `ConfigError`s naming the field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of settings at the top level")
    if base is not None:
        raw = _resolve_paths(raw, base)
    return validate(PipelineConfig, raw, where)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Read (size- and alias-limited), resolve and validate one pipeline YAML file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such pipeline config file")
    raw = load_yaml_file(p)
    if isinstance(raw, dict) and overrides:
        raw = {**raw, **{k: v for k, v in overrides.items() if v is not None}}
    return parse_config(raw, base=p.resolve().parent, where=str(p))
