"""Document batches to Parquet shards on a background thread.

Extraction holds the interpreter; Arrow's Parquet encoder and zstd do not. Handing each
batch to a writer thread lets the shard writing of one batch run on a second core while the
next batch is extracted. Rows are collected as columns (one list per document column), so no
per-row dict is built; the text arrives as UTF-8 (normalisation has encoded it already).
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from corpusforge.pipeline.documents import DOC_COLUMNS, DOC_SCHEMA, ShardWriter

# A batch is written once it has this many rows or bytes of text, whichever comes first:
# large row groups for readers, bounded memory for huge documents.
BATCH_ROWS = 1024
BATCH_BYTES = 16_000_000
_QUEUED_BATCHES = 2  # at most this many full batches wait for the writer thread
_POOLED_BYTES = 1 << 20  # string columns at least this large are built in Arrow's pool


def _string_array(values: list[str] | list[bytes]) -> pa.Array:
    """`pa.array(values, pa.string())` from the UTF-8 bytes (`values` are str, or their
    UTF-8). pa.array first asks whether its input is a pandas object, which imports pandas:
    about a second of CPU in every fresh worker process, for nothing."""
    if values and isinstance(values[0], bytes):
        encoded = values
    else:
        encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    size = int(offsets[-1])
    if size >= 2**31:  # past 32-bit offsets: let pyarrow split the column
        return pa.array(values, pa.string())
    if size < _POOLED_BYTES:
        data = pa.py_buffer(b"".join(encoded))
    else:
        # Copied into a buffer from Arrow's memory pool, which keeps its memory from batch to
        # batch: the ~10 MB b"".join of a text column came from fresh pages every batch in
        # every new writer thread (up to 2,500 page faults, a fifth of the thread's CPU).
        data = pa.allocate_buffer(size)
        view = memoryview(data).cast("B")
        pos = 0
        for b in encoded:
            end = pos + len(b)
            view[pos:end] = b
            pos = end
    return pa.StringArray.from_buffers(len(encoded), pa.py_buffer(offsets.astype(np.int32)), data)


class BackgroundShardWriter:
    """Collect document columns, write them through a ShardWriter on a worker thread.

    `add(id, text_utf8, source, uri, locator, meta)` appends one document; `close()` writes what
    is left, waits for the thread and returns the ShardWriter's outputs. An error in the
    thread is raised again by the next `add`/`close`.
    """

    def __init__(self, out_dir: str | Path, rows_per_shard: int):
        # Only the columns that repeat within a file get a dictionary.
        self._writer = ShardWriter(
            out_dir, rows_per_shard=rows_per_shard, dictionary_columns=["source", "uri"]
        )
        self._columns: list[list] = [[] for _ in DOC_COLUMNS]
        self._bytes = 0
        self._queue: queue.Queue[list[list] | None] = queue.Queue(_QUEUED_BATCHES)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="shard-writer", daemon=True)
        self._thread.start()

    def add(
        self, id: str, text_utf8: bytes, source: str, uri: str, locator: str, meta: str
    ) -> None:
        c = self._columns
        c[0].append(id)
        c[1].append(text_utf8)
        c[2].append(source)
        c[3].append(uri)
        c[4].append(locator)
        c[5].append(meta)
        self._bytes += len(text_utf8)
        if len(c[0]) >= BATCH_ROWS or self._bytes >= BATCH_BYTES:
            self._flush()

    def flush(self) -> None:
        """Hand the rows collected so far to the writer thread now (as `close` would)."""
        self._flush()

    def _flush(self) -> None:
        if self._error is not None:
            raise self._error
        if self._columns[0]:
            self._queue.put(self._columns)
            self._columns = [[] for _ in DOC_COLUMNS]
            self._bytes = 0

    def _run(self) -> None:
        while (columns := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain the queue so the producer never blocks
            try:
                arrays = [_string_array(values) for values in columns]
                self._writer.write_table(pa.Table.from_arrays(arrays, schema=DOC_SCHEMA))
            except BaseException as exc:  # re-raised in the producer
                self._error = exc

    @property
    def failed(self) -> bool:
        """True once writing a batch has failed (the error is raised by add/close)."""
        return self._error is not None

    def close(self) -> list[dict[str, Any]]:
        """Write what is left; return the finished shards (path, rows, sha256)."""
        try:
            self._flush()
        finally:
            self._stop()
        if self._error is not None:
            raise self._error
        return self._writer.close()

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def __enter__(self) -> BackgroundShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """On an error, stop the thread and remove the unfinished shard."""
        if exc_type is not None:
            self._stop()
            self._writer.__exit__(exc_type, exc, tb)
