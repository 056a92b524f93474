"""The tokenize stage: tokenizer, encoded chunks per input shard, token shards, manifest.

    plan_inputs ─► prepare_tokenizer (train on a deterministic sample, or adopt a local dir)
                ─► encode_input_shard × input shards (parallel, cached per shard)
                ─► assemble (cut train/val shards, document tables, manifest.json)

`tokenize_job` is the stage as one job (see corpusforge.pipeline.stage): `run_local` runs it on a
process pool, the Prefect driver as tasks.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpusforge.core.errors import InputError
from corpusforge.core.hashing import sha256_file, sha256_json
from corpusforge.core.version import code_version
from corpusforge.pipeline.documents import iter_shard_batches, list_shards
from corpusforge.pipeline.manifest import Reject, StageRun
from corpusforge.pipeline.remote import document_stage
from corpusforge.pipeline.stage import JobSteps, Single, StageJob, Units, unit_names, unit_sizes
from corpusforge.pipeline.stage_io import (
    CachedUnit,
    DocumentInputs,
    StagedOutput,
    check_output_directory,
    default_cache_root,
    document_inputs,
)
from corpusforge.pipeline.tokenize.config import TokenizeConfig
from corpusforge.pipeline.tokenize.encode import SPLITS, EncodePlan, encode_input_shard, is_blank
from corpusforge.pipeline.tokenize.sampling import (
    doc_columns,
    mixture_multipliers,
    source_bytes,
    unit_hash,
)
from corpusforge.pipeline.tokenize.shard_format import HEADER_SIZE, MAGIC, VERSION, token_dtype
from corpusforge.pipeline.tokenize.shards import SplitShardWriter
from corpusforge.pipeline.tokenize.tokenizer import (
    adopt_tokenizer,
    iter_texts_capped,
    save_hf_tokenizer,
    special_ids,
    tokenizer_sha256,
    train_tokenizer,
)

TOKENIZER_DIRNAME = "tokenizer"
# Documents read but not encoded, by reason (counted in the manifest; in = out + rejected +
# removed, with out the documents written, each once whatever its mixture copies).
REMOVAL_REASONS = ("skipped_no_id", "skipped_blank", "excluded_by_mixture", "skipped_unencodable")


def plan_inputs(input_path: str | Path) -> list[Path]:
    return list_shards(input_path)


def _readable_batches(shards: list[Path]) -> Iterator[tuple[Path, Any]]:
    """Batches of every readable shard; unreadable ones are skipped (encode rejects them)."""
    for shard in shards:
        try:
            for table in iter_shard_batches(shard, batch_size=2048, columns=doc_columns(shard)):
                yield shard, table
        except (InputError, OSError, ValueError):
            continue


def sample_texts(shards: list[Path], config: TokenizeConfig) -> Iterator[str]:
    """The training sample: documents picked by id hash at the rate that fits the byte budget."""
    total = sum(_safe_source_bytes(shards).values())
    rate = min(1.0, config.train_sample_bytes / total) if total else 1.0
    for _shard, table in _readable_batches(shards):
        for doc_id, text in zip(table["id"].to_pylist(), table["text"].to_pylist(), strict=True):
            if text and not is_blank(text) and unit_hash(config.seed, "sample", str(doc_id)) < rate:
                yield text


def _safe_source_bytes(shards: list[Path]) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for shard in shards:
        try:
            totals.update(source_bytes([shard]))
        except (InputError, OSError, ValueError):
            continue
    return dict(sorted(totals.items()))


def input_fingerprint(shards: list[Path]) -> list[dict[str, Any]]:
    return [{"path": str(s), "sha256": sha256_file(s)} for s in shards]


def prepare_tokenizer(
    shards: list[Path], out_dir: str | Path, config: TokenizeConfig, cache_root: str | Path
) -> dict[str, Any]:
    """Train (or adopt) the tokenizer into `out_dir/tokenizer`; reuse a cached training run."""
    target = Path(out_dir) / TOKENIZER_DIRNAME
    if config.tokenizer_dir:
        info = adopt_tokenizer(config.tokenizer_dir, target)
        return _describe_tokenizer(target, trained=False, **info)
    key = sha256_json(
        {
            "inputs": [f["sha256"] for f in input_fingerprint(shards)],
            "vocab_size": config.vocab_size,
            "train_sample_bytes": config.train_sample_bytes,
            "min_frequency": config.min_frequency,
            "seed": config.seed,
            "code": code_version(),
        }
    )[:32]
    unit = CachedUnit(Path(cache_root) / "tokenizer", key)
    sample = unit.load()
    reused = sample is not None
    if sample is None:
        texts = iter_texts_capped(sample_texts(shards, config), config.train_sample_bytes)
        counter = _CountingIter(texts)
        tok = train_tokenizer(counter, config.vocab_size, config.min_frequency)
        if not counter.documents:
            raise InputError("no documents with text to train the tokenizer on")
        save_hf_tokenizer(tok, unit.begin())
        sample = unit.commit({"documents": counter.documents, "bytes": counter.bytes})
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(unit.final, target, ignore=shutil.ignore_patterns("_DONE.json"))
    return _describe_tokenizer(
        target,
        trained=True,
        reused=reused,
        sample_documents=sample["documents"],
        sample_bytes=sample["bytes"],
    )


class _CountingIter:
    def __init__(self, texts: Iterator[str]):
        self._texts = texts
        self.documents = 0
        self.bytes = 0

    def __iter__(self) -> Iterator[str]:
        for text in self._texts:
            self.documents += 1
            self.bytes += len(text.encode("utf-8", "surrogatepass"))
            yield text


def _describe_tokenizer(target: Path, **extra: Any) -> dict[str, Any]:
    ids = special_ids(target)
    return {
        "dir": TOKENIZER_DIRNAME,
        "sha256": tokenizer_sha256(target),
        **ids,
        "dtype": token_dtype(ids["vocab_size"]).name,
        **extra,
    }


def make_plan(
    shards: list[Path], out_dir: str | Path, config: TokenizeConfig, tokenizer: dict[str, Any]
) -> tuple[EncodePlan, dict[str, Any] | None]:
    """The encode plan, with mixture multipliers computed from the input's bytes per source."""
    mixture = None
    multipliers = None
    if config.mixture:
        by_source = _safe_source_bytes(shards)
        multipliers = mixture_multipliers(config.mixture, by_source)
        mixture = {"weights": config.mixture, "input_bytes": by_source, "multipliers": multipliers}
    plan = EncodePlan(
        tokenizer_dir=str(Path(out_dir) / TOKENIZER_DIRNAME),
        tokenizer_sha256=tokenizer["sha256"],
        val_fraction=config.val_fraction,
        seed=config.seed,
        batch_bytes=config.batch_bytes,
        multipliers=multipliers,
    )
    return plan, mixture


def encode_or_reject(shard: str, cache_root: str, plan: EncodePlan) -> dict[str, Any]:
    """encode_input_shard, with an unreadable input shard turned into a reject record."""
    try:
        return encode_input_shard(shard, cache_root, plan)
    except InputError as exc:
        return {"path": shard, "rejected": str(exc)}


def _document_for_val(chunks: list[dict[str, Any]], config: TokenizeConfig) -> str | None:
    """The train document that goes to val when the hash split left val empty, else None.

    Per-document hashing routes ~val_fraction of the documents to val, which on a small corpus
    can be none at all; training would then have nothing to validate on. The document moved is
    the one whose split hash is lowest (the most val-like), so the choice is deterministic and
    independent of input order; a one-document corpus stays all train."""
    if config.val_fraction <= 0 or any(c["splits"]["val"]["documents"] for c in chunks):
        return None
    ids = {
        i
        for c in chunks
        for i in pq.read_table(Path(c["chunk_dir"]) / "train.docs.parquet", columns=["id"])[
            "id"
        ].to_pylist()
    }
    if len(ids) < 2:
        return None
    return min(ids, key=lambda i: unit_hash(config.seed, "split", i))


def _split_pieces(
    chunk: dict[str, Any], split: str, dtype: np.dtype, moved: str | None
) -> Iterator[tuple[np.ndarray, Any]]:
    """(tokens, document table) of `split` in one chunk, with the moved document's copies taken
    out of train and appended to val."""
    chunk_dir = Path(chunk["chunk_dir"])
    own = pq.read_table(chunk_dir / f"{split}.docs.parquet")
    if len(own):
        tokens = np.fromfile(chunk_dir / f"{split}.tokens", dtype=dtype)
        if moved is not None and split == "train":
            mask = np.asarray(own["id"].to_pylist(), dtype=object) == moved
            if mask.any():
                spans = np.repeat(~mask, own["tokens"].to_numpy())
                tokens, own = tokens[spans], own.filter(pa.array(~mask))
        if len(own):
            yield tokens, own
    if moved is not None and split == "val":
        train = pq.read_table(chunk_dir / "train.docs.parquet")
        mask = np.asarray(train["id"].to_pylist(), dtype=object) == moved
        if mask.any():
            tokens = np.fromfile(chunk_dir / "train.tokens", dtype=dtype)
            yield tokens[np.repeat(mask, train["tokens"].to_numpy())], train.filter(pa.array(mask))


def assemble(
    chunks: list[dict[str, Any]],
    out_dir: str | Path,
    config: TokenizeConfig,
    tokenizer: dict[str, Any],
    mixture: dict[str, Any] | None,
    inputs: DocumentInputs | None = None,
) -> dict[str, Any]:
    """Cut shards from the chunks (in input order) and write manifest.json and rejects.jsonl
    into `out_dir` (the job's staging directory)."""
    out = Path(out_dir)
    for split in SPLITS:
        shutil.rmtree(out / split, ignore_errors=True)
    run = StageRun("tokenize", out, config, inputs=[], hash_inputs=False)
    if inputs is not None:
        inputs.record(run)
    dtype = token_dtype(tokenizer["vocab_size"])
    by_source: dict[str, Counter[str]] = {}
    good = [c for c in chunks if "rejected" not in c]
    for c in chunks:
        if "rejected" in c:
            run.reject(Reject(file=c["path"], reason=c["rejected"]))
    moved = _document_for_val(good, config)
    for split in SPLITS:
        writer = SplitShardWriter(out, split, dtype, config.shard_tokens)
        try:
            for c in good:
                for tokens, docs in _split_pieces(c, split, dtype, moved):
                    writer.add(tokens, docs)
        except BaseException:
            writer.abort()
            raise
        run.add_outputs(writer.close())
    for c in good:
        run.counts["in"] += c["counts"].get("documents_in", 0)
        for k, v in c["counts"].items():
            if k != "documents_in":
                run.counts[k] += v
        run.counts["inputs_cached"] += int(c.get("cached", False))
        for src, stats in c["by_source"].items():
            by_source.setdefault(src, Counter()).update(stats)
    run.counts["removed"] = sum(run.counts.get(k, 0) for k in REMOVAL_REASONS)
    run.inputs = [
        {
            "path": c["path"],
            "sha256": c.get("sha256"),
            "documents": c.get("counts", {}).get("documents_in", 0),
            **({"rejected": True} if "rejected" in c else {}),
        }
        for c in chunks
    ]
    text_bytes = sum(s["text_bytes"] for s in by_source.values())
    text_tokens = sum(s["text_tokens"] for s in by_source.values())
    run.extra.update(
        {
            "format": {"magic": MAGIC.decode(), "version": VERSION, "header_bytes": HEADER_SIZE},
            "tokenizer": tokenizer,
            "splits": {
                split: {
                    "shards": sum(1 for o in run.outputs if o["split"] == split),
                    "tokens": sum(o["tokens"] for o in run.outputs if o["split"] == split),
                    "documents": sum(o["rows"] for o in run.outputs if o["split"] == split),
                }
                for split in SPLITS
            },
            "mixture": mixture,
            "by_source": {s: dict(c) for s, c in sorted(by_source.items())},
            "bytes_per_token": round(text_bytes / text_tokens, 4) if text_tokens else None,
        }
    )
    return run.finish()


def tokenize_job(
    input_path: str | Path,
    out_dir: str | Path,
    config: TokenizeConfig | None = None,
    cache_root: str | Path | None = None,
    *,
    overwrite: bool = False,
    allow_incomplete: bool = False,
) -> StageJob:
    """The tokenize stage (run it with `run_local` or the Prefect driver); encoding runs on
    `config.workers` processes unless the driver is told otherwise."""
    config = config or TokenizeConfig()
    steps = document_stage(
        "tokenize",
        lambda i, o, c, _: _tokenize_steps(i, o, config, c, overwrite, allow_incomplete),
        input_path,
        out_dir,
        cache_root,
        overwrite=overwrite,
        allow_incomplete=allow_incomplete,
    )
    return StageJob("tokenize", steps, workers=config.workers)


def _tokenize_steps(
    input_path, out_dir, config, cache_root, overwrite, allow_incomplete
) -> JobSteps:
    check_output_directory(Path(out_dir), "tokenize", overwrite=overwrite)
    cache = Path(cache_root) if cache_root else default_cache_root(out_dir)
    inputs = yield from document_inputs(input_path, cache, allow_incomplete=allow_incomplete)
    shards = [Path(s) for s in inputs.shards]
    with StagedOutput(out_dir, "tokenize", overwrite=overwrite) as staged:
        out = staged.path
        tokenizer = yield Single("train-tokenizer", prepare_tokenizer, (shards, out, config, cache))
        plan, mixture = make_plan(shards, out, config, tokenizer)
        chunk_root = str(cache / "chunks")
        chunks = yield Units(
            "encode",
            encode_or_reject,
            [(str(s), chunk_root, plan) for s in shards],
            unit_names(shards),
            unit_sizes(shards),
            documents=lambda c: c.get("counts", {}).get("documents_in", 0),
            # this process may hold the tokenizer's native thread pool, which a fork does not copy
            fork_safe=False,
        )
        manifest = assemble(chunks, out, config, tokenizer, mixture, inputs)
        staged.publish()
    return manifest
