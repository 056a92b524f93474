"""Config foundations: strict pydantic models, one-line validation messages, bounded YAML.

Every config model of the project derives from `StrictModel`, so an unknown key (a typo such
as `threshhold`) is an error that names the key and the closest valid one instead of a silent
fall-back to the default. YAML is read with `load_yaml_file`: a size limit, no aliases (the
"billion laughs" expansion and self-references need them) and a nesting limit.

Security rule: no configuration value, flow parameter or manifest field ever names code to
import or call. Implementations are chosen from fixed registries of names (see
`corpusforge.model.storage.STORAGE_BACKENDS`); tests/security/test_no_code_from_config.py
enforces it.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from corpusforge.core.errors import ConfigError, InputError

MAX_YAML_BYTES = 1 << 20
MAX_YAML_DEPTH = 64


class StrictModel(BaseModel):
    """A config model that refuses unknown keys at every level."""

    model_config = ConfigDict(extra="forbid")


# Where data-stage tasks run, by name or by the address of a Dask scheduler; nothing else.
# A pattern (not a validator function) so that it is part of the JSON schema that the Prefect
# server checks deployment-run parameters against.
TASK_RUNNER_REGEX = r"^(processes|threads|(dask|tcp)://[A-Za-z0-9.\-]+:[0-9]{1,5})$"
TASK_RUNNER_PATTERN = re.compile(TASK_RUNNER_REGEX)
TaskRunnerAddress = Annotated[
    str,
    Field(pattern=TASK_RUNNER_REGEX, description="processes, threads or dask://HOST:PORT"),
]


# --- one-line messages ----------------------------------------------------------------------


def resolve_local_path(value: str) -> str:
    """The absolute form of a local path (`~` expanded); URLs (`s3://`, `hf://`, ...) unchanged.

    Paths are resolved where a run is configured, so tasks that run elsewhere (Dask workers with
    another working directory, a deployment's worker) read and write the same files."""
    if "://" in value or not value:
        return value
    return os.path.abspath(os.path.expanduser(value))


LocalPathOrUrl = Annotated[str, AfterValidator(resolve_local_path)]
"""A path field of a run's parameters: local paths become absolute when validated."""


def _model_at(model: type[BaseModel] | None, loc: tuple) -> type[BaseModel] | None:
    """The model class that holds the field at `loc` (loc without its last element)."""
    for part in loc:
        if model is None or not isinstance(part, str):
            continue  # list indexes and dict keys keep the current model
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _nested_model(field.annotation)
    return model


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def closest_key(model: type[BaseModel] | None, loc: tuple) -> str | None:
    """The valid key nearest to the unknown last element of `loc`, if one is close."""
    holder = _model_at(model, loc[:-1])
    if holder is None or not loc or not isinstance(loc[-1], str):
        return None
    names = list(holder.model_fields)
    match = difflib.get_close_matches(loc[-1], names, n=1, cutoff=0.6)
    return match[0] if match else None


def _field_description(model: type[BaseModel] | None, loc: tuple) -> str | None:
    holder = _model_at(model, loc[:-1])
    names = [p for p in loc if isinstance(p, str)]
    if holder is None or not names:
        return None
    field = holder.model_fields.get(names[-1])
    return field.description if field is not None else None


def validation_message(
    exc: ValidationError, model: type[BaseModel] | None = None, prefix: tuple = ()
) -> str:
    """One line for a pydantic error: the dotted location, the reason, a suggestion.

    Values are never echoed (a config may hold secrets or PII); only keys and reasons are.
    """
    err = exc.errors(include_url=False, include_input=False)[0]
    loc = tuple(err["loc"])
    where = ".".join(str(p) for p in (*prefix, *loc))
    if err["type"] == "extra_forbidden":
        guess = closest_key(model, loc)
        hint = f" (did you mean {guess!r}?)" if guess else ""
        msg = f"unknown key {str(loc[-1])!r}{hint}"
    elif err["type"] == "string_pattern_mismatch":
        expected = _field_description(model, loc)
        msg = f"not an accepted value{f' (expected {expected})' if expected else ''}"
    else:
        msg = str(err["msg"]).removeprefix("Value error, ")
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    line = f"{where + ': ' if where else ''}{msg}{more}"
    return " ".join(line.split())


def validate(model: type[BaseModel], raw: Any, where: str = "config") -> Any:
    """`model.model_validate(raw)` with a one-line `ConfigError` on failure."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {validation_message(exc, model)}") from None


# --- bounded YAML ---------------------------------------------------------------------------


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and deep nesting while composing the node tree."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ConfigError(
                f"YAML aliases are not allowed (alias *{event.anchor} at line "
                f"{event.start_mark.line + 1}): write the value out"
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise ConfigError(
                    f"YAML nested deeper than {MAX_YAML_DEPTH} levels at line {mark.line + 1}"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml_text(text: str, where: str = "config") -> Any:
    """Parse YAML text with the limits above; errors are one-line `ConfigError`s."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_YAML_BYTES:
        raise ConfigError(f"{where}: larger than {MAX_YAML_BYTES} bytes; not a config file")
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{where}: not valid YAML{at}") from None
    except RecursionError:
        raise ConfigError(f"{where}: YAML nested too deeply") from None


def load_yaml_file(path: str | Path) -> Any:
    """Read a YAML config file (size checked before it is read)."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError:
        raise InputError(f"{p}: no such file") from None
    if not p.is_file():
        raise InputError(f"{p}: not a regular file")
    if size > MAX_YAML_BYTES:
        raise ConfigError(f"{p}: larger than {MAX_YAML_BYTES} bytes; not a config file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    return load_yaml_text(text, where=str(p))


# --- paths from configs and manifests -------------------------------------------------------


def contained_path(root: str | Path, relative: str | Path, what: str = "path") -> Path:
    """`root / relative`, resolved, refused unless it stays inside `root`.

    For paths read from manifests and configs: `../` segments, absolute paths and symlinks
    that lead outside the root are all refused with one line.
    """
    base = Path(root).resolve()
    rel = Path(relative)
    if rel.is_absolute() or "\x00" in str(relative):
        raise InputError(f"{what} {str(relative)!r} must be relative to {base}")
    target = (base / rel).resolve()
    if target != base and base not in target.parents:
        raise InputError(f"{what} {str(relative)!r} leads outside {base}")
    return target
