"""`PipelineConfig`: one YAML file describes one corpus-to-model pipeline (validated).

Stage sections are the stages' own config models (ingest: `IngestConfig`, ...), so a typo or a
bad value fails at load time with the YAML path of the problem, before anything runs.
Relative paths are resolved against the YAML file's directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from corpusforge.errors import ConfigError
from pipeline.dedup.config import DedupConfig
from pipeline.ingest.config import IngestConfig
from pipeline.pii.config import PiiConfig
from pipeline.tokenize.config import TokenizeConfig

TASK_RUNNER_PATTERN = re.compile(r"^(processes|threads|(dask|tcp)://[^\s:/]+:\d{1,5})$")
STAGES = ("ingest", "dedup", "pii", "tokenize", "pretrain", "finetune")
StageName = Literal["ingest", "dedup", "pii", "tokenize", "pretrain", "finetune"]


class PipelineConfig(BaseModel):
    """Everything one pipeline run needs; stored (as JSON) in every stage fingerprint."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("corpus-to-model", min_length=1, description="label in the UI and audit")
    inputs: list[str] = Field(
        ..., min_length=1, description="source files or directories (a drop folder) for ingest"
    )
    output: str = Field(..., description="root directory of the stage outputs")
    stages: list[StageName] | None = Field(
        None, description="stages to run, in pipeline order (default: every stage available)"
    )
    task_runner: str | None = Field(
        None, description="where data-stage tasks run: local processes (default), dask://HOST:PORT"
    )
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    incremental: bool = Field(
        False,
        description="process only input files not done before, as a new batch under "
        "output/batches/, deduplicated against all earlier batches (persistent dedup index)",
    )
    dedup_index: str | None = Field(
        None,
        description="persistent dedup index directory (default with incremental: "
        "output/dedup-index); documents are also deduplicated against it",
    )
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    pii: PiiConfig = Field(default_factory=PiiConfig)
    tokenize: TokenizeConfig = Field(default_factory=TokenizeConfig)
    pretrain: dict[str, Any] = Field(
        default_factory=dict,
        description="model.config.TrainConfig fields; `data` is the tokenize output",
    )
    finetune: dict[str, Any] = Field(
        default_factory=dict,
        description="model.config.SFTConfig fields; `data` is the SFT JSONL file, "
        "`init_from` the pretrain stage's final checkpoint",
    )

    @field_validator("task_runner")
    @classmethod
    def _check_runner(cls, value: str | None) -> str | None:
        if value is not None and not TASK_RUNNER_PATTERN.match(value):
            raise ValueError("expected processes, threads or dask://HOST:PORT")
        return value

    @model_validator(mode="after")
    def _check_stages(self) -> PipelineConfig:
        from flows.pipeline_steps import available_stages

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
        self._check_training_sections()
        return self

    def _check_training_sections(self) -> None:
        """Validate the training sections with their real models (data paths filled in later)."""
        selected = self.selected_stages()
        if "pretrain" in selected or "finetune" in selected:
            from model.config import SFTConfig, TrainConfig

            for stage, model, filled in (
                ("pretrain", TrainConfig, {"data": "<tokenize output>"}),
                ("finetune", SFTConfig, {"init_from": "<pretrain checkpoint>"}),
            ):
                if stage not in selected:
                    continue
                try:
                    model.model_validate({**filled, **getattr(self, stage)})
                except ValidationError as exc:
                    err = exc.errors()[0]
                    loc = ".".join(str(p) for p in (stage, *err["loc"]))
                    raise ValueError(f"{loc}: {err['msg']}") from None
                if (
                    stage in ("pretrain", "finetune")
                    and stage == "pretrain"
                    and "data" in getattr(self, stage)
                ):
                    raise ValueError("pretrain.data is set by the pipeline (the tokenize output)")

    def selected_stages(self) -> list[str]:
        from flows.pipeline_steps import available_stages

        return list(self.stages) if self.stages else available_stages()

    def output_root(self) -> Path:
        return Path(self.output).expanduser().resolve()

    def dedup_index_dir(self) -> str | None:
        if self.dedup_index:
            return str(Path(self.dedup_index).expanduser().resolve())
        return str(self.output_root() / "dedup-index") if self.incremental else None


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
    return out


def parse_config(raw: Any, *, base: Path | None = None, where: str = "config") -> PipelineConfig:
    """Validate a config mapping; errors become one-line `ConfigError`s naming the field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of settings at the top level")
    if base is not None:
        raw = _resolve_paths(raw, base)
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{where}: {loc + ': ' if loc else ''}{msg}{more}") from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Read, resolve and validate one pipeline YAML file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such pipeline config file")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}: not valid YAML{at}") from None
    if isinstance(raw, dict) and overrides:
        raw = {**raw, **{k: v for k, v in overrides.items() if v is not None}}
    return parse_config(raw, base=p.resolve().parent, where=str(p))
