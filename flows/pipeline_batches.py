"""Incremental runs over a drop folder: each run takes only the files not done before.

`<output>/ingested.jsonl` lists every source file (path, sha256, batch) of the batches that
finished. A run's batch is the set of input files whose sha256 is not listed; its outputs go to
`<output>/batches/<batch-id>/`, and dedup checks it against the persistent index that earlier
batches filled, so a document already in the corpus is removed even when it arrives again in
a new file. The batch id is a hash of the new files, so a crashed batch resumes under the same id.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from corpusforge.core.errors import ConfigError, IntegrityError
from corpusforge.core.hashing import sha256_file, sha256_json
from corpusforge.core.settings import contained_path
from corpusforge.flows.pipeline_config import PipelineConfig
from corpusforge.pipeline.ingest.stage import HUB_PREFIX, expand_inputs
from corpusforge.pipeline.manifest import StageRun, read_manifest
from corpusforge.pipeline.remote import is_remote, source_identity
from corpusforge.pipeline.stage_io import StagedOutput

LEDGER_NAME = "ingested.jsonl"
TRAIN_STAGES = ("pretrain", "finetune", "align")


def _ledger(config: PipelineConfig) -> Path:
    return config.output_root() / LEDGER_NAME


def done_files(config: PipelineConfig) -> set[str]:
    path = _ledger(config)
    if not path.exists():
        return set()
    return {json.loads(line)["sha256"] for line in path.read_text().splitlines() if line.strip()}


def plan_batch(config: PipelineConfig) -> tuple[list[dict[str, Any]], PipelineConfig | None]:
    """The new files and the config of their batch (None when nothing is new)."""
    done = done_files(config)
    new = []
    for f in expand_inputs([i for i in config.inputs if not is_remote(i)]):
        sha = sha256_json(f) if f.startswith(HUB_PREFIX) else sha256_file(f)
        if sha not in done:
            new.append({"path": f, "sha256": sha})
    # objects at a URL: known by their backend version and size (not fetched to be hashed)
    for obj in (o for i in config.inputs if is_remote(i) for o in source_identity(i)):
        sha = sha256_json(obj)
        if sha not in done:
            new.append({"path": obj["path"], "sha256": sha})
    if not new:
        return [], None
    batch_id = "batch-" + sha256_json(sorted(n["sha256"] for n in new))[:12]
    # A batch encodes with the corpus tokenizer once one is pinned; the mixture is applied over
    # the whole corpus at retrain time (a night's files may lack a source it names).
    pinned = config.output_root() / CORPUS_DIRNAME / PINNED_TOKENIZER
    tokenize = config.tokenize.model_copy(
        update={
            "mixture": None,
            "tokenizer_dir": config.tokenize.tokenizer_dir
            or (str(pinned) if pinned.is_dir() else None),
        }
    )
    batch = config.model_copy(
        update={
            "inputs": [n["path"] for n in new],
            "output": str(config.output_root() / "batches" / batch_id),
            "dedup_index": config.dedup_index_dir(),
            "incremental": False,
            "stages": [s for s in config.selected_stages() if s not in TRAIN_STAGES],
            "tokenize": tokenize,
        }
    )
    return new, batch


def record_batch(config: PipelineConfig, new: list[dict[str, Any]], batch: PipelineConfig) -> None:
    """Mark the batch's files done (after every stage of the batch finished)."""
    batch_id = Path(batch.output).name
    with open(_ledger(config), "a", encoding="utf-8") as f:
        for n in new:
            f.write(json.dumps({**n, "batch": batch_id}) + "\n")


# ---- the training corpus: every finished batch --------------------------------------------------
# Retraining reads `<output>/corpus/`: its `pii/` (the stage before tokenize) is the union of the
# finished batches' outputs (hard links, no copies), `tokens/` one tokenization of that union with
# the configured mixture and one tokenizer, and `pretrain/`, `finetune/` the training jobs. The
# mixture is applied over the whole corpus there, not per batch: a night's batch may lack a source
# the mixture names, and shares of the union are what training sees.

CORPUS_DIRNAME = "corpus"
PINNED_TOKENIZER = "tokenizer"


def finished_batches(config: PipelineConfig) -> list[str]:
    """Batch ids in the ledger, in the order they finished."""
    path = _ledger(config)
    if not path.exists():
        return []
    seen: dict[str, None] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            seen.setdefault(json.loads(line)["batch"], None)
    return list(seen)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: copy
        shutil.copy2(src, dst)


def union_batches(config: PipelineConfig, stage: str, dirname: str) -> Path:
    """Write `<output>/corpus/<dirname>`: the `stage` outputs of every finished batch as one
    stage output (each shard renamed after its batch), and return it."""
    batches = finished_batches(config)
    if not batches:
        raise ConfigError(
            f"no batch has finished under {config.output_root() / 'batches'} yet: retraining "
            "trains on the nightly batches, so run nightly-prepare (incremental) first"
        )
    target = config.output_root() / CORPUS_DIRNAME / dirname
    with StagedOutput(target, stage, overwrite=True) as staged:
        run = StageRun(stage, staged.path, {"union_of": batches}, inputs=[], hash_inputs=False)
        for batch in batches:
            src_dir = config.output_root() / "batches" / batch / dirname
            try:
                manifest = read_manifest(src_dir)
            except IntegrityError as exc:
                raise ConfigError(f"batch {batch}: {exc}") from None
            for out in manifest.get("outputs", []):
                name = f"part-{batch}-{Path(out['path']).name.removeprefix('part-')}"
                shard = contained_path(src_dir, out["path"], "listed path")
                _link_or_copy(shard, staged.path / name)
                run.add_outputs([{**out, "path": name, "from": f"{batch}/{out['path']}"}])
            run.counts["in"] += manifest["counts"].get("out", 0)
        run.extra["batches"] = batches
        run.finish()
        staged.publish()
    return target


def corpus_config(config: PipelineConfig, train_stages: list[str]) -> PipelineConfig:
    """The config that tokenizes the corpus of every finished batch and trains on it.

    The tokenizer is pinned at the first retrain (`corpus/tokenizer/`) so later retrains and
    batches encode with the same vocabulary. Training run names carry the corpus version (a hash
    of the batch ids), so each retrain on new data is a new run, and a rerun of an interrupted
    one resumes it."""
    from corpusforge.flows.pipeline_steps import STEPS, previous_stage

    prev = previous_stage("tokenize")
    union = union_batches(config, prev, STEPS[prev].dirname)
    batches = read_manifest(union)["batches"]
    tag = "c" + sha256_json(batches)[:10]
    tokenize = config.tokenize
    pinned = config.output_root() / CORPUS_DIRNAME / PINNED_TOKENIZER
    if tokenize.tokenizer_dir is None and pinned.is_dir():
        tokenize = tokenize.model_copy(update={"tokenizer_dir": str(pinned)})
    return config.model_copy(
        update={
            "output": str(config.output_root() / CORPUS_DIRNAME),
            "incremental": False,
            "stages": ["tokenize", *train_stages],
            "tokenize": tokenize,
            "pretrain": config.pretrain.model_copy(
                update={"run_name": f"{config.pretrain.run_name}-{tag}"}
            ),
            "finetune": config.finetune.model_copy(
                update={"run_name": f"{config.finetune.run_name}-{tag}"}
            ),
            "align": config.align
            and config.align.model_copy(update={"run_name": f"{config.align.run_name}-{tag}"}),
        }
    )


def pin_tokenizer(config: PipelineConfig) -> None:
    """Keep the corpus tokenizer after its first training (see `corpus_config`)."""
    corpus = config.output_root() / CORPUS_DIRNAME
    pinned = corpus / PINNED_TOKENIZER
    trained = corpus / "tokens" / PINNED_TOKENIZER
    if config.tokenize.tokenizer_dir is None and not pinned.exists() and trained.is_dir():
        staging = corpus / f".{PINNED_TOKENIZER}.staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(trained, staging)
        staging.replace(pinned)
