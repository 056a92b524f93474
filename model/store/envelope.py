"""Chunked AES-256-GCM streams: one data key per file, constant memory for any file size.

Layout: an 16-byte header (magic, version, chunk size), then chunks of `chunk_size`
plaintext bytes, each stored as ciphertext + 16-byte tag. Chunk i uses nonce i (safe: every
file has its own random key) and associated data = header + file id + i + a final-chunk
flag, so chunks cannot be reordered, moved to another file, or dropped from the end without
the authentication failing. The sha256 of the plaintext is computed in the same pass.
"""

from __future__ import annotations

import hashlib
import struct
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from corpusforge.errors import IntegrityError

MAGIC = b"CFGCM\x00"
VERSION = 1
HEADER = struct.Struct(">6sHQ")  # magic, version, chunk size
TAG_BYTES = 16
DEFAULT_CHUNK_BYTES = 4 << 20


class _Sidecar:
    """Hash and write on one background thread while the caller reads and en/decrypts.

    hashlib and file I/O release the GIL, so this overlaps sha256 with AES-GCM on two cores.
    One worker keeps the order; at most `depth` chunks are in flight (bounded memory).
    """

    def __init__(self, depth: int = 2):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cf-envelope")
        self._pending: deque[Future] = deque()
        self._depth = depth

    def submit(self, fn: Callable[[], object]) -> None:
        while len(self._pending) >= self._depth:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn))

    def __enter__(self) -> _Sidecar:
        return self

    def __exit__(self, *exc) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True)


def _aad(header: bytes, file_id: bytes, index: int, final: bool) -> bytes:
    return header + file_id + struct.pack(">Q?", index, final)


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


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
    dst.write(header)
    digest = hashlib.sha256()
    size = index = 0
    chunk = src.read(chunk_bytes)
    with _Sidecar() as sidecar:
        while True:
            following = src.read(chunk_bytes) if len(chunk) == chunk_bytes else b""
            final = not following
            sealed = aead.encrypt(_nonce(index), chunk, _aad(header, file_id, index, final))
            sidecar.submit(lambda c=chunk, s=sealed: (digest.update(c), dst.write(s)))
            size += len(chunk)
            index += 1
            if final:
                break
            chunk = following
    return {"size": size, "sha256": digest.hexdigest(), "chunks": index}


def decrypt_stream(
    src: BinaryIO, dst: BinaryIO, data_key: bytes, file_id: bytes, label: str
) -> dict[str, int | str]:
    """Decrypt and authenticate `src` into `dst`; `label` names the file in errors."""
    header = src.read(HEADER.size)
    try:
        magic, version, chunk_bytes = HEADER.unpack(header)
    except struct.error:
        magic, version, chunk_bytes = b"", 0, 0
    if magic != MAGIC or version != VERSION or not 0 < chunk_bytes <= 1 << 30:
        raise IntegrityError(f"{label}: not an encrypted checkpoint file (bad header)")
    aead = AESGCM(data_key)
    stored = chunk_bytes + TAG_BYTES
    digest = hashlib.sha256()
    size = index = 0
    block = src.read(stored)
    with _Sidecar() as sidecar:
        while True:
            if len(block) < TAG_BYTES:
                raise IntegrityError(f"{label}: truncated (ends before its final chunk)")
            following = src.read(stored) if len(block) == stored else b""
            final = not following
            try:
                plain = aead.decrypt(_nonce(index), block, _aad(header, file_id, index, final))
            except InvalidTag:
                raise IntegrityError(
                    f"{label}: chunk {index} failed authentication (tampered, truncated, "
                    "reordered or from another file)"
                ) from None
            sidecar.submit(lambda p=plain: (digest.update(p), dst.write(p)))
            size += len(plain)
            index += 1
            if final:
                break
            block = following
    return {"size": size, "sha256": digest.hexdigest(), "chunks": index}
