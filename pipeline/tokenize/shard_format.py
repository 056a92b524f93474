"""The token shard file format (`.bin`), version 1. All integers little-endian.

    offset  size  field
    0       8     magic b"CFTOKENS"
    8       4     format version (uint32) = 1
    12      4     bytes per token (uint32): 2 = uint16, 4 = uint32
    16      8     token count N (uint64)
    24      8     document count D (uint64)
    32      16    checksum: XXH3-128 of (tokens, index, bytes 0..32 of this header)
    48      16    reserved, zero
    64      N*w   tokens (every document ends with the end-of-text id)
    ...     (D+1)*8  document offsets (uint64): document i is tokens[off[i]:off[i+1]]

The tokens start at byte 64, so `np.memmap(path, dtype, offset=64, shape=(N,))` maps them. The
file size is fixed by the header, so truncation is caught before the checksum is read.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

from corpusforge.core.errors import IntegrityError

MAGIC = b"CFTOKENS"
VERSION = 1
HEADER_SIZE = 64
_HEAD = struct.Struct("<8sIIQQ")  # the first 32 bytes
_CHECK_CHUNK = 1 << 24


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


@dataclass(frozen=True)
class ShardHeader:
    itemsize: int
    num_tokens: int
    num_docs: int
    checksum: str

    @property
    def dtype(self) -> np.dtype:
        return np.dtype("<u2" if self.itemsize == 2 else "<u4")

    @property
    def file_size(self) -> int:
        return HEADER_SIZE + self.num_tokens * self.itemsize + (self.num_docs + 1) * 8

    @property
    def index_offset(self) -> int:
        return HEADER_SIZE + self.num_tokens * self.itemsize


class ShardFileWriter:
    """Streams documents into one shard file; `close()` writes the index and the header.

    Written under `<name>.tmp` and renamed when complete: a crash never leaves a shard that
    looks finished.
    """

    def __init__(self, path: str | Path, dtype: np.dtype):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._file = open(self._tmp, "wb")  # noqa: SIM115 (closed in close())
        self._file.write(b"\0" * HEADER_SIZE)
        self._hash = xxhash.xxh3_128()
        self._offsets = [0]

    @property
    def num_tokens(self) -> int:
        return self._offsets[-1]

    @property
    def num_docs(self) -> int:
        return len(self._offsets) - 1

    def write_documents(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        """Append documents given as one token array and each document's length."""
        data = np.ascontiguousarray(tokens, dtype=self.dtype)
        if int(lengths.sum()) != len(data):
            raise ValueError("document lengths do not add up to the token count")
        buf = memoryview(data).cast("B")
        self._file.write(buf)
        self._hash.update(buf)
        base = self._offsets[-1]
        self._offsets.extend((base + np.cumsum(lengths, dtype=np.int64)).tolist())

    def close(self) -> ShardHeader:
        index = np.asarray(self._offsets, dtype="<u8").tobytes()
        self._file.write(index)
        self._hash.update(index)
        head = _HEAD.pack(MAGIC, VERSION, self.dtype.itemsize, self.num_tokens, self.num_docs)
        self._hash.update(head)
        digest = self._hash.digest()
        self._file.seek(0)
        self._file.write(head + digest + b"\0" * 16)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._tmp.replace(self.path)
        return ShardHeader(self.dtype.itemsize, self.num_tokens, self.num_docs, digest.hex())

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


def read_header(path: str | Path) -> ShardHeader:
    """Parse and sanity-check the header and the file size (cheap: no checksum)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(HEADER_SIZE)
    except OSError as exc:
        raise IntegrityError(f"{path}: token shard cannot be read ({exc.strerror})") from exc
    if len(raw) < HEADER_SIZE:
        raise IntegrityError(f"{path}: truncated token shard (no complete header)")
    magic, version, itemsize, n_tokens, n_docs = _HEAD.unpack(raw[:32])
    if magic != MAGIC:
        raise IntegrityError(f"{path}: not a corpusforge token shard (bad magic)")
    if version != VERSION:
        raise IntegrityError(f"{path}: unsupported token shard version {version}")
    if itemsize not in (2, 4):
        raise IntegrityError(f"{path}: corrupt header (token width {itemsize})")
    header = ShardHeader(itemsize, n_tokens, n_docs, raw[32:48].hex())
    if size != header.file_size:
        kind = "truncated" if size < header.file_size else "oversized"
        raise IntegrityError(
            f"{path}: {kind} token shard ({size} bytes, header says {header.file_size})"
        )
    return header


def verify_shard(path: str | Path) -> ShardHeader:
    """Header, size, checksum and document index: raises IntegrityError naming the file."""
    path = Path(path)
    header = read_header(path)
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        head = f.read(HEADER_SIZE)
        while chunk := f.read(_CHECK_CHUNK):
            h.update(chunk)
    h.update(head[:32])
    if h.hexdigest() != header.checksum:
        raise IntegrityError(f"{path}: token shard checksum mismatch (corrupt file)")
    offsets = read_offsets(path, header)
    if offsets[0] != 0 or offsets[-1] != header.num_tokens or np.any(np.diff(offsets) < 0):
        raise IntegrityError(f"{path}: corrupt document index")
    return header


def read_offsets(path: str | Path, header: ShardHeader) -> np.ndarray:
    return np.fromfile(
        path, dtype="<u8", count=header.num_docs + 1, offset=header.index_offset
    ).astype(np.int64)


def map_tokens(path: str | Path, header: ShardHeader) -> np.ndarray:
    if header.num_tokens == 0:
        return np.zeros(0, dtype=header.dtype)
    return np.memmap(
        path, dtype=header.dtype, mode="r", offset=HEADER_SIZE, shape=(header.num_tokens,)
    )
