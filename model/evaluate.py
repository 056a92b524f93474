"""Evaluation of a stored checkpoint: perplexity per source, and standard benchmarks through
lm-eval (the EleutherAI harness) on the checkpoint's Hugging Face export, from local files.

The checkpoint is read through the access-controlled store (`CheckpointStorage`) and decrypted
into a private temporary folder (0700, files 0600) that is removed when the evaluation ends,
also when it fails. Results hold scores, counts, task versions and data hashes, never text.

Benchmarks run on the harness's own task definitions (prompt templates, metrics, versions),
pointed at local data files: for each benchmark whose files are found in the task folder, a task
config that `include`s the harness's installed YAML and replaces its Hub dataset with
`dataset_path: json` (or `parquet`) and `data_files` is written into the private folder. Layout of
the task folder (files exported from the benchmarks' Hugging Face datasets, same columns):

    hellaswag/validation.jsonl             Rowan/hellaswag
    arc_easy/test.jsonl                    allenai/ai2_arc, ARC-Easy
    arc_challenge/test.jsonl               allenai/ai2_arc, ARC-Challenge
    truthfulqa/validation.jsonl            truthfulqa/truthful_qa, multiple_choice (mc1 + mc2)
    mmlu/<subject>/test.jsonl [dev.jsonl]  cais/mmlu, one folder per subject
    *.yaml                                 any other task in the harness's own YAML format

Each split may also be `<split>.json`, `<split>.parquet` or `<split>-*.parquet` (the Hub's
Parquet names). Nothing is downloaded: the harness only sees local files.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from corpusforge.core.errors import ConfigError, InputError
from corpusforge.core.hashing import sha256_file
from corpusforge.core.settings import StrictModel
from corpusforge.model.checkpoint import fetch_checkpoint, load_model
from corpusforge.model.config import StoreArgs
from corpusforge.model.storage import CheckpointStorage

IGNORE = -100
DATA_SUFFIXES = (".jsonl", ".json", ".parquet")


# --- configuration ----------------------------------------------------------------------------


class EvalConfig(StrictModel):
    """One evaluation of one stored checkpoint."""

    checkpoint: str = Field(..., description="checkpoint name in the store")
    tasks: list[str] | None = Field(
        None,
        description="lm-eval tasks (default: every standard benchmark found in task_dir); "
        "[] for none",
    )
    task_dir: str | None = Field(None, description="local task files (see model/evaluate.py)")
    tokens: str | None = Field(None, description="token shards: perplexity on their val split")
    data: list[str] = Field(
        default_factory=list, description="document sets (JSONL/Parquet): perplexity per source"
    )
    max_tokens: int = Field(200_000, ge=1, description="tokens scored per perplexity input")
    batch_size: int = Field(8, ge=1)
    limit: int | None = Field(None, ge=1, description="examples per lm-eval task (quick checks)")
    num_fewshot: int | None = Field(None, ge=0, description="default: each task's own")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    storage_args: StoreArgs = Field(default_factory=StoreArgs)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


# --- the private copy of the checkpoint --------------------------------------------------------


@contextlib.contextmanager
def private_workdir(prefix: str = "cf-eval-") -> Iterator[Path]:
    """A 0700 temporary folder, removed on exit whatever happened inside."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        os.chmod(tmp, 0o700)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- perplexity -------------------------------------------------------------------------------


@dataclass
class Tally:
    """Summed negative log-likelihood (nats) and scored tokens of one group."""

    nll: float = 0.0
    tokens: int = 0
    documents: int = 0

    def add(self, other: Tally) -> None:
        self.nll += other.nll
        self.tokens += other.tokens
        self.documents += other.documents

    def summary(self) -> dict[str, Any]:
        loss = self.nll / self.tokens if self.tokens else float("nan")
        return {
            "loss": round(loss, 5),
            "perplexity": round(math.exp(min(loss, 50)), 4) if self.tokens else None,
            "tokens": self.tokens,
            "documents": self.documents,
        }


def _chunks(tokens: np.ndarray, window: int) -> Iterator[np.ndarray]:
    """Pieces of `window + 1` tokens overlapping by one, so every token after the first is
    predicted exactly once (each piece starts with a fresh context)."""
    for start in range(0, max(len(tokens) - 1, 0), window):
        piece = tokens[start : start + window + 1]
        if len(piece) >= 2:
            yield piece


@torch.no_grad()
def score_sequences(
    model: torch.nn.Module,
    sequences: Iterable[tuple[str, np.ndarray]],
    *,
    window: int,
    batch_size: int,
    max_tokens: int,
    pad_id: int = 0,
) -> dict[str, Tally]:
    """Token-weighted NLL per group of `(group, token ids)` sequences, at most `max_tokens`
    predicted tokens in all (whole documents; the one crossing the limit is cut)."""
    model.eval()
    device = next(model.parameters()).device
    tallies: dict[str, Tally] = {}
    batch: list[tuple[str, np.ndarray]] = []
    budget = max_tokens

    def flush() -> None:
        width = max(len(p) for _, p in batch) - 1
        inputs = torch.full((len(batch), width), pad_id, dtype=torch.long)
        targets = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        for r, (_, piece) in enumerate(batch):
            t = torch.from_numpy(piece.astype(np.int64))
            inputs[r, : len(t) - 1], targets[r, : len(t) - 1] = t[:-1], t[1:]
        logits = model(input_ids=inputs.to(device)).logits.float()
        nll = F.cross_entropy(
            logits.flatten(0, 1), targets.to(device).flatten(), reduction="none"
        ).view(len(batch), width)
        for r, (group, piece) in enumerate(batch):
            tally = tallies.setdefault(group, Tally())
            tally.nll += float(nll[r, : len(piece) - 1].sum())
            tally.tokens += len(piece) - 1
        batch.clear()

    for group, tokens in sequences:
        if budget <= 0:
            break
        tokens = np.asarray(tokens[: budget + 1])
        if len(tokens) < 2:
            continue
        tallies.setdefault(group, Tally()).documents += 1
        budget -= len(tokens) - 1
        for piece in _chunks(tokens, window):
            batch.append((group, piece))
            if len(batch) == batch_size:
                flush()
    if batch:
        flush()
    return tallies


def _report(tallies: dict[str, Tally]) -> dict[str, Any]:
    total = Tally()
    for t in tallies.values():
        total.add(t)
    return {
        "all": total.summary(),
        "by_source": {s: t.summary() for s, t in sorted(tallies.items())},
    }


def token_split_perplexity(
    model: torch.nn.Module,
    tokenizer: Any,
    token_dir: str | Path,
    *,
    split: str = "val",
    window: int,
    batch_size: int,
    max_tokens: int,
) -> dict[str, Any]:
    """Perplexity on a split of the token shards (corpusforge.pipeline.tokenize), per source."""
    from corpusforge.model.data import open_tokens
    from corpusforge.pipeline.tokenize.shards import read_doc_table

    ds = open_tokens(token_dir, split)  # every shard verified before compute
    if len(tokenizer) != ds.vocab_size:
        raise ConfigError(
            f"the checkpoint's tokenizer has {len(tokenizer)} tokens, the shards at {token_dir} "
            f"were encoded with {ds.vocab_size}: not the tokenizer this model was trained with"
        )

    def documents() -> Iterator[tuple[str, np.ndarray]]:
        tokens = ds.iter_documents()
        for shard in ds.shards:
            for source in read_doc_table(shard, columns=["source"])["source"].to_pylist():
                yield source or "(none)", next(tokens)

    tallies = score_sequences(
        model,
        documents(),
        window=window,
        batch_size=batch_size,
        max_tokens=max_tokens,
        pad_id=ds.pad_id,
    )
    return {
        "input": f"token shards ({split} split)",
        "token_manifest_sha256": ds.manifest_sha256,
        **_report(tallies),
    }


def documents_perplexity(
    model: torch.nn.Module,
    tokenizer: Any,
    path: str | Path,
    *,
    window: int,
    batch_size: int,
    max_tokens: int,
) -> dict[str, Any]:
    """Perplexity on a document set (JSONL/Parquet rows with `text`, grouped by `source`)."""
    from corpusforge.pipeline.documents import iter_documents, list_shards

    files = list_shards(path)  # InputError for a missing or unreadable input
    eot = tokenizer.eos_token_id

    def documents() -> Iterator[tuple[str, np.ndarray]]:
        for row in iter_documents(path, columns=["text", "source"]):
            ids = tokenizer.encode(row["text"] or "", add_special_tokens=False)
            if eot is not None:
                ids.append(eot)
            yield row.get("source") or "dataset", np.asarray(ids, dtype=np.int64)

    tallies = score_sequences(
        model,
        documents(),
        window=window,
        batch_size=batch_size,
        max_tokens=max_tokens,
        pad_id=tokenizer.pad_token_id or 0,
    )
    return {
        "input": "documents",
        "files": len(files),
        "data_sha256": combined_sha256(files, Path(path)),
        **_report(tallies),
    }


def combined_sha256(files: Iterable[Path], root: Path) -> str:
    """One sha256 over the (relative name, sha256) of every file: the identity of a data set."""
    h = hashlib.sha256()
    base = root if root.is_dir() else root.parent
    for f in sorted(files):
        rel = os.path.relpath(f, base)
        h.update(f"{rel}\0{sha256_file(f)}\n".encode())
    return h.hexdigest()


# --- lm-eval benchmarks from local files ------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    """A standard benchmark: the harness's YAML (relative to lm_eval/tasks) and our folder."""

    task: str
    upstream: str
    folder: str
    splits: tuple[str, ...]  # the split keys of the harness config, in order of use
    split_keys: dict[str, str] = field(default_factory=dict)  # split -> harness config key


_ARC_SPLITS = {"train": "training_split", "validation": "validation_split", "test": "test_split"}
BENCHMARKS: dict[str, Benchmark] = {
    b.task: b
    for b in (
        Benchmark(
            "hellaswag",
            "hellaswag/hellaswag.yaml",
            "hellaswag",
            ("train", "validation"),
            {"train": "training_split", "validation": "validation_split"},
        ),
        Benchmark("arc_easy", "arc/arc_easy.yaml", "arc_easy", tuple(_ARC_SPLITS), _ARC_SPLITS),
        Benchmark(
            "arc_challenge",
            "arc/arc_challenge.yaml",
            "arc_challenge",
            tuple(_ARC_SPLITS),
            _ARC_SPLITS,
        ),
        Benchmark(
            "truthfulqa_mc1",
            "truthfulqa/truthfulqa_mc1.yaml",
            "truthfulqa",
            ("validation",),
            {"validation": "validation_split"},
        ),
        Benchmark(
            "truthfulqa_mc2",
            "truthfulqa/truthfulqa_mc2.yaml",
            "truthfulqa",
            ("validation",),
            {"validation": "validation_split"},
        ),
    )
}
MMLU = "mmlu"
STANDARD_TASKS = (*BENCHMARKS, MMLU)


def _split_files(folder: Path, split: str) -> list[Path]:
    found = [folder / f"{split}{s}" for s in DATA_SUFFIXES if (folder / f"{split}{s}").is_file()]
    return found or sorted(folder.glob(f"{split}-*.parquet"))


def _builder(files: list[Path]) -> str:
    kinds = {"parquet" if f.suffix == ".parquet" else "json" for f in files}
    if len(kinds) != 1:
        raise InputError(f"{files[0].parent}: mix of Parquet and JSON files for one benchmark")
    return kinds.pop()


@dataclass
class PreparedTasks:
    """Task configs written for one run: their folder, names and the data behind each."""

    include_path: list[str]
    names: list[str]
    data: dict[str, dict[str, Any]]  # task -> {"files": n, "data_sha256": ...}


def _harness_tasks_dir() -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).parent


def _yaml(config: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(config, sort_keys=False)


def _write_benchmark(
    b: Benchmark, folder: Path, out: Path, cache: Path, harness: Path
) -> dict | None:
    files = {s: _split_files(folder, s) for s in b.splits}
    files = {s: f for s, f in files.items() if f}
    if not files:
        return None
    every = [f for fs in files.values() for f in fs]
    config: dict[str, Any] = {
        "include": str(harness / b.upstream),
        "task": b.task,
        "dataset_path": _builder(every),
        "dataset_name": None,
        "dataset_kwargs": {
            "data_files": {s: [str(f) for f in fs] for s, fs in files.items()},
            "cache_dir": str(cache),
        },
    }
    for split, key in b.split_keys.items():
        config[key] = split if split in files else None
    (out / f"{b.task}.yaml").write_text(_yaml(config))
    return {"files": len(every), "data_sha256": combined_sha256(every, folder.parent)}


def _write_mmlu(folder: Path, out: Path, cache: Path, harness: Path) -> dict | None:
    subjects = sorted(d for d in folder.iterdir() if d.is_dir()) if folder.is_dir() else []
    names, every = [], []
    for d in subjects:
        upstream = harness / "mmlu" / "default" / f"mmlu_{d.name}.yaml"
        if not upstream.is_file():
            raise InputError(f"{d}: not an MMLU subject the harness knows (mmlu_{d.name}.yaml)")
        test, dev = _split_files(d, "test"), _split_files(d, "dev")
        if not test:
            raise InputError(f"{d}: no test file (test.jsonl, test.parquet or test-*.parquet)")
        config: dict[str, Any] = {
            "include": str(upstream),
            "task": f"mmlu_{d.name}",
            "tag": None,
            "dataset_path": _builder(test + dev),
            "dataset_name": None,
            "dataset_kwargs": {
                "data_files": {
                    "test": [str(f) for f in test],
                    **({"dev": [str(f) for f in dev]} if dev else {}),
                },
                "cache_dir": str(cache),
            },
        }
        if not dev:
            config["fewshot_split"] = None
        (out / f"mmlu_{d.name}.yaml").write_text(_yaml(config))
        names.append(f"mmlu_{d.name}")
        every += test + dev
    if not names:
        return None
    group = {
        "group": MMLU,
        "task": names,
        "aggregate_metric_list": [{"metric": "acc", "weight_by_size": True}],
        "metadata": {"version": 2},
    }
    (out / "_mmlu.yaml").write_text(_yaml(group))
    return {
        "files": len(every),
        "subjects": len(names),
        "data_sha256": combined_sha256(every, folder),
    }


def prepare_tasks(task_dir: str | Path, tasks: list[str] | None, workdir: Path) -> PreparedTasks:
    """Write the harness task configs for `tasks` (default: every standard benchmark found)
    into `workdir`; a task asked for whose files are missing fails here, before any compute."""
    root = Path(task_dir)
    if not root.is_dir():
        raise InputError(f"task folder not found: {root} (see docs/evaluation.md for its layout)")
    harness = _harness_tasks_dir()
    out, cache = workdir / "tasks", workdir / "datasets-cache"
    out.mkdir()
    cache.mkdir()
    data: dict[str, dict[str, Any]] = {}
    wanted = set(tasks) if tasks is not None else set(STANDARD_TASKS)
    for name, b in BENCHMARKS.items():
        if name in wanted:
            info = _write_benchmark(b, root / b.folder, out, cache, harness)
            if info:
                data[name] = info
    if MMLU in wanted:
        info = _write_mmlu(root / MMLU, out, cache, harness)
        if info:
            data[MMLU] = info
    custom = sorted(p for p in root.glob("*.yaml") if p.is_file())
    custom_names = {_yaml_task_name(p) for p in custom} - {None}
    for name in wanted - set(data):
        if name in custom_names:
            p = next(p for p in custom if _yaml_task_name(p) == name)
            data[name] = {"files": 1, "config_sha256": sha256_file(p)}
    if tasks is not None:
        missing = [t for t in tasks if t not in data]
        if missing:
            raise InputError(
                f"no local data for task(s) {', '.join(missing)} under {root} "
                "(standard benchmarks: " + ", ".join(STANDARD_TASKS) + "; or a *.yaml task config)"
            )
    include = [str(out)] + ([str(root)] if custom else [])
    return PreparedTasks(include, [t for t in (tasks or sorted(data)) if t in data], data)


def _yaml_task_name(path: Path) -> str | None:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():  # top-level `task:` / `group:` key; no YAML tags evaluated
        for key in ("task:", "group:"):
            if line.startswith(key):
                with contextlib.suppress(yaml.YAMLError):
                    value = yaml.safe_load(line[len(key) :])
                    return value if isinstance(value, str) else None
    return None


def run_benchmarks(
    checkpoint_dir: Path,
    prepared: PreparedTasks,
    *,
    device: torch.device,
    batch_size: int,
    limit: int | None,
    num_fewshot: int | None,
) -> dict[str, Any]:
    """lm-eval `simple_evaluate` on the HF export in `checkpoint_dir`: scores per task (and
    group), the harness's task versions and sample counts. No per-sample logs (they hold text)."""
    import lm_eval.utils
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    if not prepared.names:
        return {}
    # The harness would add its own handler on the stderr of its first call (a closed stream
    # for a later caller, e.g. under a test runner); its records go through our logging instead.
    lm_eval.utils._LOGGING_CONFIGURED = True
    logging.getLogger("lm_eval").propagate = True
    manager = TaskManager(include_path=prepared.include_path, include_defaults=False)
    out = simple_evaluate(
        model="hf",
        model_args={
            "pretrained": str(checkpoint_dir),
            "dtype": "float32",
            "trust_remote_code": False,
        },
        tasks=prepared.names,
        task_manager=manager,
        device=str(device),
        batch_size=batch_size,
        limit=limit,
        num_fewshot=num_fewshot,
        log_samples=False,
        bootstrap_iters=0 if limit else 1000,
    )
    if out is None:  # not the main rank
        return {}
    results: dict[str, Any] = {}
    for task, metrics in out["results"].items():
        scores = {
            k.split(",")[0]: round(float(v), 6)
            for k, v in metrics.items()
            if "," in k and isinstance(v, int | float) and not isinstance(v, bool)
        }
        results[task] = {
            "version": out["versions"].get(task),
            "samples": (out.get("n-samples", {}).get(task) or {}).get("effective"),
            "num_fewshot": out.get("n-shot", {}).get(task),
            "metrics": scores,
        }
    for task, info in prepared.data.items():
        results.setdefault(task, {}).update({"data": info})
    return results


# --- one evaluation ---------------------------------------------------------------------------


def evaluate_checkpoint(config: EvalConfig, storage: CheckpointStorage) -> dict[str, Any]:
    """Fetch `config.checkpoint` through the store into a private folder, score it, remove the
    folder. A principal whose clearance does not cover the checkpoint gets the store's
    `AccessDenied` (which the store has audited) before anything is decrypted."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    device = resolve_device(config.device)
    with private_workdir() as work:
        # Task configs first: a missing task file fails before the checkpoint is decrypted.
        prepared = (
            prepare_tasks(config.task_dir, config.tasks, work)
            if config.task_dir and config.tasks != []
            else None
        )
        if config.tasks and not config.task_dir:
            raise InputError("--tasks needs a task folder (--task-dir or $CORPUSFORGE_EVAL_TASKS)")
        path = fetch_checkpoint(storage, config.checkpoint, work / "checkpoint")
        tokenizer = AutoTokenizer.from_pretrained(
            path, local_files_only=True, trust_remote_code=False
        )
        model = load_model(path).to(device)
        window = int(model.config.max_position_embeddings)
        result: dict[str, Any] = {
            "checkpoint": config.checkpoint,
            "parameters": sum(p.numel() for p in model.parameters()),
            "perplexity": {},
            "tasks": {},
        }
        if config.tokens:
            result["perplexity"]["val_split"] = token_split_perplexity(
                model,
                tokenizer,
                config.tokens,
                window=window,
                batch_size=config.batch_size,
                max_tokens=config.max_tokens,
            )
        for i, data in enumerate(config.data):
            result["perplexity"][f"data{i}"] = documents_perplexity(
                model,
                tokenizer,
                data,
                window=window,
                batch_size=config.batch_size,
                max_tokens=config.max_tokens,
            )
        if prepared is not None:
            del model  # the harness loads the export itself
            result["tasks"] = run_benchmarks(
                path,
                prepared,
                device=device,
                batch_size=config.batch_size,
                limit=config.limit,
                num_fewshot=config.num_fewshot,
            )
        return result
