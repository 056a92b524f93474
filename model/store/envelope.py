"""Chunked AES-256-GCM streams: one data key per file, bounded memory for any file size.

Layout: a 16-byte header (magic, version, chunk size), then chunks of `chunk_size`
plaintext bytes, each stored as ciphertext + 16-byte tag. Chunk i uses nonce i (safe: every
file has its own random key) and associated data = header + file id + i + a final-chunk
flag, so chunks cannot be reordered, moved to another file, or dropped from the end without
the authentication failing. The sha256 of the plaintext is computed in the same pass.

Speed (measured, see docs/store.md): AES-GCM holds the GIL; sha256 and file I/O release it.
So the caller's thread en/decrypts one small chunk at a time and writes it (the write hands
the GIL over at once), while one helper thread runs sha256 over 8 MiB batches. Nothing is
copied in Python: local files are read through per-batch read-only memory maps (a read()
copy costs more CPU than AES-GCM here), other sources with readinto() into a fixed ring;
AES writes into preallocated buffers (encrypt_into/decrypt_into); local outputs are
preallocated to their final size. Memory: `buffer_bytes()`, whatever the file size.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import stat
import struct
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from corpusforge.core.errors import InputError, IntegrityError

MAGIC = b"CFGCM\x00"
VERSION = 1
HEADER = struct.Struct(">6sHQ")  # magic, version, chunk size
TAG_BYTES = 16
# One AES-GCM call per chunk: short, since it holds the GIL, and small enough that the chunk
# is still in the core's cache when it is written (docs/store.md has the measurement).
DEFAULT_CHUNK_BYTES = 256 << 10
BATCH_BYTES = 8 << 20  # one sha256 call (releases the GIL) per batch
MAX_CHUNK_BYTES = 64 << 20  # bounds what a forged header can make a reader allocate
DEPTH = 2  # batches queued for the hasher

Chunks = Iterator[tuple[memoryview, bool]]  # (chunk, is it the last one)


class _Worker:
    """One background thread running submitted calls in order, at most `depth` in flight.

    When `submit(k)` returns, every call before the last `depth` has finished: that is
    what makes reusing a ring of buffers safe (see the ring sizes below).
    """

    def __init__(self, name: str, depth: int = DEPTH):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"cf-{name}")
        self._pending: deque[Future] = deque()
        self._depth = depth

    def submit(self, fn: Callable[..., object], *args: object) -> None:
        while len(self._pending) >= self._depth:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn, *args))

    def __enter__(self) -> _Worker:
        return self

    def __exit__(self, *exc) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True)


def buffer_bytes(chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Most buffer memory one encrypt or decrypt stream allocates, whatever the file size:
    decrypt's plaintext batches (encrypt needs one sealed chunk). Local inputs are mapped,
    not copied; other inputs add read-ahead batches (`_read_chunks`)."""
    return max((DEPTH + 1) * _batch_chunks(chunk_bytes) * chunk_bytes, chunk_bytes + TAG_BYTES)


def _batch_chunks(chunk_bytes: int) -> int:
    return max(1, BATCH_BYTES // chunk_bytes)


def sealed_size(size: int, chunk_bytes: int) -> int:
    """Bytes of the encrypted form of a `size`-byte file."""
    chunks = max(1, -(-size // chunk_bytes))
    return HEADER.size + size + chunks * TAG_BYTES


def _aad(header: bytes, file_id: bytes, index: int, final: bool) -> bytes:
    return header + file_id + struct.pack(">Q?", index, final)


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def _regular_fd(f: BinaryIO) -> int | None:
    """The descriptor of `f` when it is a regular local file (mappable, preallocatable)."""
    try:
        fd = f.fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (AttributeError, OSError, ValueError):
        return None


def _preallocate(f: BinaryIO, nbytes: int) -> None:
    """Reserve the output's blocks up front: less kernel time per write than letting each
    write allocate (docs/store.md), and less fragmentation."""
    fd = _regular_fd(f)
    if fd is not None and nbytes > 0:
        f.flush()
        with contextlib.suppress(OSError):  # not supported here: plain writes still work
            os.posix_fallocate(fd, f.tell(), nbytes)


def _mapped_chunks(fd: int, start: int, end: int, step: int) -> Chunks:
    """[start, end) of a local file as `step`-sized views of per-chunk read-only maps.

    The page cache is used in place (no read() copy); each map is released as soon as its
    last view is dropped, so at most the chunks in flight are mapped.
    """
    offset = start
    while True:
        length = min(step, end - offset)
        if length <= 0:
            yield memoryview(b""), True
            return
        aligned = offset - offset % mmap.ALLOCATIONGRANULARITY
        mapped = mmap.mmap(fd, offset + length - aligned, access=mmap.ACCESS_READ, offset=aligned)
        mapped.madvise(mmap.MADV_WILLNEED)  # a file not in the page cache: read ahead a batch
        offset += length
        yield memoryview(mapped)[offset - length - aligned :], offset >= end
        if offset >= end:
            return


def _fill(src: BinaryIO, view: memoryview) -> int:
    """Read into `view` until it is full or the stream ends; return the byte count."""
    filled = 0
    while filled < len(view):
        got = src.readinto(view[filled:])
        if not got:
            break
        filled += got
    return filled


def _read_chunks(src: BinaryIO, step: int, slots: int) -> Chunks:
    """`src` as `step`-sized views into a ring of `slots` buffers, reading one ahead (to
    know which chunk is the last). A view stays valid until `slots - 1` more are taken."""
    ring = [memoryview(bytearray(step)) for _ in range(slots)]
    index, filled = 0, _fill(src, ring[0])
    while True:
        following = _fill(src, ring[(index + 1) % slots]) if filled == step else 0
        yield ring[index % slots][:filled], following == 0
        if following == 0:
            return
        index, filled = index + 1, following


def _chunks(src: BinaryIO, step: int, slots: int) -> tuple[Chunks, Callable[[], None]]:
    """Chunks of `src` (mapped when it is a local file) and a check to run at the end."""
    fd = _regular_fd(src)
    if fd is None:
        return _read_chunks(src, step, slots), lambda: None
    start, end = src.tell(), os.fstat(fd).st_size

    def unchanged() -> None:
        if os.fstat(fd).st_size != end:
            raise InputError(f"{getattr(src, 'name', 'file')}: changed size while being read")

    return _mapped_chunks(fd, start, end, step), unchanged


def _write_all(dst: BinaryIO, view: memoryview) -> None:
    """Write all of `view`: raw, unbuffered files may take it in parts (None: took it all)."""
    while view:
        written = dst.write(view)
        if written is None:
            return
        view = view[written:]


def _pieces(batch: memoryview, step: int) -> Iterator[memoryview]:
    """`batch` cut into `step`-sized pieces (the last may be shorter; an empty batch is one
    empty piece: an empty file is one empty chunk)."""
    yield batch[:step]
    for offset in range(step, len(batch), step):
        yield batch[offset : offset + step]


def encrypt_stream(
    src: BinaryIO,
    dst: BinaryIO,
    data_key: bytes,
    file_id: bytes,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> dict[str, int | str]:
    """Encrypt `src` into `dst`; return plaintext size, sha256 and chunk count."""
    aead = AESGCM(data_key)
    header = HEADER.pack(MAGIC, VERSION, chunk_bytes)
    batch_bytes = _batch_chunks(chunk_bytes) * chunk_bytes
    # DEPTH batches being hashed + the one being encrypted + the one read ahead.
    batches, check_unchanged = _chunks(src, batch_bytes, DEPTH + 2)
    fd = _regular_fd(src)
    if fd is not None:
        _preallocate(dst, sealed_size(os.fstat(fd).st_size - src.tell(), chunk_bytes))
    dst.write(header)
    digest = hashlib.sha256()
    sealed = memoryview(bytearray(chunk_bytes + TAG_BYTES))
    size = index = 0
    with _Worker("hash") as hasher:
        for batch, last_batch in batches:
            hasher.submit(digest.update, batch)  # reads the batch alongside AES
            pieces = list(_pieces(batch, chunk_bytes))
            for number, chunk in enumerate(pieces):
                final = last_batch and number == len(pieces) - 1
                out = sealed[: len(chunk) + TAG_BYTES]
                aead.encrypt_into(_nonce(index), chunk, _aad(header, file_id, index, final), out)
                _write_all(dst, out)  # releases the GIL: the hasher gets it back at once
                index += 1
            size += len(batch)
            del batch, pieces, chunk  # a mapped batch is unmapped once it is hashed
    check_unchanged()
    return {"size": size, "sha256": digest.hexdigest(), "chunks": index}


def _read_header(src: BinaryIO, label: str) -> tuple[bytes, int]:
    header = src.read(HEADER.size)
    try:
        magic, version, chunk_bytes = HEADER.unpack(header)
    except struct.error:
        magic, version, chunk_bytes = b"", 0, 0
    if magic != MAGIC:
        raise IntegrityError(f"{label}: not an encrypted checkpoint file (bad header)")
    if version != VERSION:
        raise IntegrityError(
            f"{label}: written in encrypted-file format version {version}; this corpusforge "
            f"reads version {VERSION} (use a corpusforge release that knows it)"
        )
    if not 0 < chunk_bytes <= MAX_CHUNK_BYTES:
        raise IntegrityError(f"{label}: not an encrypted checkpoint file (bad header)")
    return header, chunk_bytes


def decrypt_stream(
    src: BinaryIO,
    dst: BinaryIO,
    data_key: bytes,
    file_id: bytes,
    label: str,
    expected_size: int | None = None,
) -> dict[str, int | str]:
    """Decrypt and authenticate `src` into `dst`; `label` names the file in errors.

    `expected_size` (from the verified manifest) preallocates the output and is checked.
    """
    header, chunk_bytes = _read_header(src, label)
    aead = AESGCM(data_key)
    stored = chunk_bytes + TAG_BYTES
    per_batch = _batch_chunks(chunk_bytes)
    # Sealed batches are used on this thread only: the current one + the one read ahead.
    batches, _ = _chunks(src, per_batch * stored, 2)
    if expected_size is not None:
        _preallocate(dst, expected_size)
    digest = hashlib.sha256()
    # DEPTH plaintext batches being hashed + the one being decrypted into.
    plain = [memoryview(bytearray(per_batch * chunk_bytes)) for _ in range(DEPTH + 1)]
    size = index = 0
    with _Worker("hash") as hasher:
        for number, (batch, last_batch) in enumerate(batches):
            out = plain[number % len(plain)]
            filled = 0
            pieces = list(_pieces(batch, stored))
            for piece_number, block in enumerate(pieces):
                if len(block) < TAG_BYTES:
                    raise IntegrityError(f"{label}: truncated (ends before its final chunk)")
                final = last_batch and piece_number == len(pieces) - 1
                target = out[filled : filled + len(block) - TAG_BYTES]
                try:
                    aead.decrypt_into(
                        _nonce(index), block, _aad(header, file_id, index, final), target
                    )
                except InvalidTag:
                    raise IntegrityError(
                        f"{label}: chunk {index} failed authentication (tampered, truncated, "
                        "reordered or from another file)"
                    ) from None
                _write_all(dst, target)  # releases the GIL: the hasher gets it back at once
                filled += len(target)
                index += 1
            hasher.submit(digest.update, out[:filled])
            size += filled
            del batch, pieces, block
    if expected_size is not None and size != expected_size:
        raise IntegrityError(f"{label}: {size} bytes where the manifest says {expected_size}")
    return {"size": size, "sha256": digest.hexdigest(), "chunks": index}


class RangeReader:
    """Byte ranges of one encrypted file, decrypting only the chunks that hold them.

    Every chunk read is authenticated on its own (its tag binds the data key, the file id, its
    index and whether it is the last chunk), and the caller supplies the plaintext size from
    the verified manifest, so a range read can neither be served from another file or place
    nor be cut short. What it cannot check is the whole-file sha256 (that needs every byte):
    a full fetch does. `bytes_read` counts the encrypted bytes read."""

    def __init__(self, src: BinaryIO, data_key: bytes, file_id: bytes, label: str, size: int):
        self._src, self._label, self.size = src, label, size
        self._header, self._chunk = _read_header(src, label)
        self._aead = AESGCM(data_key)
        self._file_id = file_id
        self._chunks = max(1, -(-size // self._chunk))
        self._last: tuple[int, bytes] | None = None  # adjacent ranges share a boundary chunk
        self.bytes_read = HEADER.size

    def _plain_chunk(self, index: int) -> bytes:
        if self._last is not None and self._last[0] == index:
            return self._last[1]
        plain = min(self._chunk, self.size - index * self._chunk)
        self._src.seek(HEADER.size + index * (self._chunk + TAG_BYTES))
        block = self._src.read(plain + TAG_BYTES)
        self.bytes_read += len(block)
        if len(block) != plain + TAG_BYTES:
            raise IntegrityError(f"{self._label}: truncated (ends before chunk {index} does)")
        final = index == self._chunks - 1
        try:
            data = self._aead.decrypt(
                _nonce(index), block, _aad(self._header, self._file_id, index, final)
            )
        except InvalidTag:
            raise IntegrityError(
                f"{self._label}: chunk {index} failed authentication (tampered, truncated, "
                "reordered or from another file)"
            ) from None
        self._last = (index, data)
        return data

    def read(self, offset: int, length: int) -> bytes:
        """`length` plaintext bytes from `offset`."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise IntegrityError(f"{self._label}: range {offset}+{length} is outside the file")
        if length == 0:
            return b""
        first, last = offset // self._chunk, (offset + length - 1) // self._chunk
        data = b"".join(self._plain_chunk(i) for i in range(first, last + 1))
        start = offset - first * self._chunk
        return data[start : start + length]
