"""Local JSONL / Parquet datasets and Hugging Face hub datasets (streamed).

Rows are read in batches (JSONL line by line, Parquet by record batch), so memory stays flat
whatever the file size. A row whose text field is missing or not a string, or a JSONL line
that is not a JSON object, becomes a RecordError (row index, reason) and the walk goes on.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from corpusforge.core.errors import InputError
from corpusforge.core.hashing import sha256_file
from corpusforge.pipeline.ingest.config import IngestConfig
from corpusforge.pipeline.ingest.records import RawDocument, RecordError

HUB_PREFIX = "hf://"
# Row fields copied into `meta` when present as scalars.
META_FIELDS = ("url", "title", "date", "timestamp", "license", "language", "lang", "author")
_BATCH_ROWS = 1024


def _row_document(
    row: Any, index: int, key_prefix: str, uri_name: str, config: IngestConfig, stats: Counter
) -> RawDocument | RecordError:
    if not isinstance(row, dict):
        stats["errors"] += 1
        return RecordError(index, f"row {index} is not an object ({type(row).__name__})")
    if config.text_field not in row or row[config.text_field] is None:
        stats["errors"] += 1
        return RecordError(index, f"row {index} has no {config.text_field!r} field")
    text = row[config.text_field]
    if not isinstance(text, str):
        stats["errors"] += 1
        return RecordError(
            index, f"row {index}: {config.text_field!r} is {type(text).__name__}, not a string"
        )
    if config.id_field:
        ident = row.get(config.id_field)
        if ident is None or isinstance(ident, (dict, list)) or str(ident) == "":
            stats["errors"] += 1
            return RecordError(index, f"row {index} has no usable {config.id_field!r} field")
        key = str(ident)
    else:
        key = f"{key_prefix}:{index}"
    meta: dict[str, Any] = {"dataset": uri_name, "row": index}
    for name in META_FIELDS:
        value = row.get(name)
        if isinstance(value, (str, int, float, bool)) and name != config.text_field:
            meta[name] = value
    stats["documents"] += 1
    return RawDocument(
        key=key, text=text, source="dataset", locator=f"row {index}", position=index, meta=meta
    )


def _jsonl_rows(path: Path, stats: Counter) -> Iterator[tuple[int, Any | RecordError]]:
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    index = -1
    with opener(path, "rb") as f:
        for raw in f:
            if not raw.strip():
                continue  # blank lines are not rows
            index += 1
            try:
                yield index, json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                stats["errors"] += 1
                reason = getattr(exc, "msg", None) or type(exc).__name__
                yield index, RecordError(index, f"row {index}: invalid JSON ({reason})")


def _parquet_rows(path: Path, config: IngestConfig) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError...
        raise InputError(f"{path.name}: unreadable Parquet file ({type(exc).__name__})") from None
    names = set(pf.schema_arrow.names)
    if config.text_field not in names:
        raise InputError(f"{path.name}: no {config.text_field!r} column")
    if config.id_field and config.id_field not in names:
        raise InputError(f"{path.name}: no {config.id_field!r} column")
    wanted = {config.text_field, *(n for n in META_FIELDS if n in names)}
    if config.id_field:
        wanted.add(config.id_field)
    columns = [n for n in pf.schema_arrow.names if n in wanted]
    index = 0
    for batch in pf.iter_batches(batch_size=_BATCH_ROWS, columns=columns):
        for row in batch.to_pylist():
            yield index, row
            index += 1


def read_dataset(
    path: str | Path, config: IngestConfig | None = None, stats: Counter | None = None
) -> Iterator[RawDocument | RecordError]:
    """Rows of a local `.jsonl` (optionally gzipped) or `.parquet` file as documents.

    key = "<file sha256>:<row>" (or the row's `config.id_field`); locator = "row N".
    """
    path = Path(path)
    config = config or IngestConfig()
    stats = stats if stats is not None else Counter()
    with open(path, "rb") as f:
        is_parquet = f.read(4) == b"PAR1"
    rows: Iterable[tuple[int, Any]]
    if is_parquet:
        rows = _parquet_rows(path, config)  # raises InputError on the first next()
    else:
        rows = _jsonl_rows(path, stats)
    digest = sha256_file(path)
    for index, row in rows:
        stats["rows"] += 1
        if isinstance(row, RecordError):
            yield row
            continue
        yield _row_document(row, index, digest, path.name, config, stats)


def read_hub_dataset(
    spec: str, config: IngestConfig | None = None, stats: Counter | None = None
) -> Iterator[RawDocument | RecordError]:
    """Stream a Hugging Face hub dataset, `hf://owner/name` (split: `config.dataset_split`).

    Loading happens here, not lazily, so an unreachable or unknown dataset raises InputError
    at once. Nothing is downloaded when the environment is offline (HF_DATASETS_OFFLINE=1):
    then only datasets already in the local cache load.
    """
    config = config or IngestConfig()
    stats = stats if stats is not None else Counter()
    name = spec[len(HUB_PREFIX) :] if spec.startswith(HUB_PREFIX) else spec
    name = name.strip("/")
    if not name or name.count("/") > 1:
        raise InputError(f"{spec}: expected hf://owner/name")
    try:
        import datasets

        data = datasets.load_dataset(name, split=config.dataset_split, streaming=True)
    except Exception as exc:
        raise InputError(
            f"cannot load Hugging Face dataset {name!r} split {config.dataset_split!r} "
            f"({type(exc).__name__}; offline, unknown or not cached?)"
        ) from None
    return _hub_rows(data, name, config, stats)


def _hub_rows(
    data: Iterable[Any], name: str, config: IngestConfig, stats: Counter
) -> Iterator[RawDocument | RecordError]:
    prefix = f"hf:{name}:{config.dataset_split}"
    try:
        for index, row in enumerate(data):
            stats["rows"] += 1
            yield _row_document(row, index, prefix, f"hf://{name}", config, stats)
    except Exception as exc:  # network drop mid-stream and the like
        stats["errors"] += 1
        yield RecordError(None, f"hub dataset {name!r} stopped streaming ({type(exc).__name__})")
