"""The chunked AES-256-GCM envelope on its own: round trips across chunk and batch edges on
mapped files and plain streams, the v1 format byte for byte, and every way of cutting,
moving or forging chunks is refused."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import tracemalloc
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from corpusforge.core.errors import InputError, IntegrityError
from corpusforge.model.store import envelope
from corpusforge.model.store.envelope import (
    HEADER,
    MAGIC,
    TAG_BYTES,
    decrypt_stream,
    encrypt_stream,
)

KEY = bytes(range(32))
FILE_ID = bytes(16)
CHUNK = 4096


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    """Three chunks per sha256 batch, so small files cross batch edges too."""
    monkeypatch.setattr(envelope, "BATCH_BYTES", 3 * CHUNK)


def _reference_v1(data: bytes, chunk: int, key: bytes = KEY, file_id: bytes = FILE_ID) -> bytes:
    """Format v1 as first written (one AESGCM.encrypt per chunk, read-ahead for the last)."""
    header = HEADER.pack(MAGIC, 1, chunk)
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    aead, out = AESGCM(key), [header]
    for index, piece in enumerate(pieces):
        final = index == len(pieces) - 1
        aad = header + file_id + struct.pack(">Q?", index, final)
        out.append(aead.encrypt(index.to_bytes(12, "big"), piece, aad))
    return b"".join(out)


def _encrypt(data: bytes, tmp_path: Path, mapped: bool, chunk: int = CHUNK) -> bytes:
    if not mapped:
        sealed = io.BytesIO()
        info = encrypt_stream(io.BytesIO(data), sealed, KEY, FILE_ID, chunk)
        blob = sealed.getvalue()
    else:
        (tmp_path / "plain").write_bytes(data)
        with open(tmp_path / "plain", "rb") as src, open(tmp_path / "sealed", "wb") as dst:
            info = encrypt_stream(src, dst, KEY, FILE_ID, chunk)
        blob = (tmp_path / "sealed").read_bytes()
    assert info == {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "chunks": max(1, -(-len(data) // chunk)),
    }
    return blob


def _decrypt(
    blob: bytes, tmp_path: Path, mapped: bool, key: bytes = KEY, size: int | None = None
) -> bytes:
    if not mapped:
        out = io.BytesIO()
        info = decrypt_stream(io.BytesIO(blob), out, key, FILE_ID, "f", expected_size=size)
        data = out.getvalue()
    else:
        (tmp_path / "sealed-in").write_bytes(blob)
        with open(tmp_path / "sealed-in", "rb") as src, open(tmp_path / "out", "wb") as dst:
            info = decrypt_stream(src, dst, key, FILE_ID, "f", expected_size=size)
        data = (tmp_path / "out").read_bytes()
    assert info["sha256"] == hashlib.sha256(data).hexdigest() and info["size"] == len(data)
    return data


SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 1, 7 * CHUNK + 5]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mapped", [True, False], ids=["mapped", "stream"])
def test_roundtrip_matches_format_v1(size, mapped, tmp_path):
    data = os.urandom(size)
    blob = _encrypt(data, tmp_path, mapped)
    assert blob == _reference_v1(data, CHUNK)  # same bytes as the first v1 writer
    assert _decrypt(blob, tmp_path, mapped, size=size) == data
    assert _decrypt(blob, tmp_path, not mapped) == data
    with pytest.raises(IntegrityError, match="the manifest says"):
        _decrypt(blob, tmp_path, mapped, size=size + 1)


def test_reads_v1_files_written_with_another_chunk_size(tmp_path):
    data = os.urandom(5 * 65536 + 7)
    blob = _reference_v1(data, 65536)  # e.g. written with the earlier 4 MiB default
    assert _decrypt(blob, tmp_path, True) == data
    assert _decrypt(blob, tmp_path, False) == data


def _chunks_of(blob: bytes, chunk: int = CHUNK) -> tuple[bytes, list[bytes]]:
    stored = chunk + TAG_BYTES
    body = blob[HEADER.size :]
    return blob[: HEADER.size], [body[i : i + stored] for i in range(0, len(body), stored)]


@pytest.mark.parametrize("mapped", [True, False], ids=["mapped", "stream"])
@pytest.mark.parametrize(
    ("attack", "message"),
    [
        (lambda h, c: h + c[1] + c[0] + b"".join(c[2:]), "chunk 0 failed"),  # inside a batch
        (lambda h, c: h + b"".join(c[:2] + [c[3], c[2]] + c[4:]), "chunk 2 failed"),  # across
        (lambda h, c: h + b"".join(c[:-1]), "failed authentication"),  # final chunk dropped
        (lambda h, c: h + b"".join(c[:3]), "chunk 2 failed"),  # cut at a batch edge
        (lambda h, c: h + b"".join(c)[:-100], "failed authentication"),  # cut mid-chunk
        (lambda h, c: h + b"".join(c) + c[-1], "failed authentication"),  # chunk appended
        (lambda h, c: h + b"".join(c[:-1]) + c[-1][:5], "truncated"),  # shorter than a tag
        (lambda h, c: h, "truncated"),  # header only
    ],
)
def test_cut_moved_or_added_chunks_are_refused(attack, message, mapped, tmp_path):
    header, chunks = _chunks_of(_encrypt(os.urandom(7 * CHUNK + 5), tmp_path, mapped))
    with pytest.raises(IntegrityError, match=message):
        _decrypt(attack(header, chunks), tmp_path, mapped)


def test_wrong_key_flipped_bit_and_other_file_id_are_refused(tmp_path):
    blob = _encrypt(os.urandom(5 * CHUNK), tmp_path, True)
    with pytest.raises(IntegrityError, match="chunk 0 failed"):
        _decrypt(blob, tmp_path, True, key=bytes(32))
    flipped = bytearray(blob)
    flipped[HEADER.size + 4 * (CHUNK + TAG_BYTES) + 3] ^= 1
    with pytest.raises(IntegrityError, match="chunk 4 failed"):
        _decrypt(bytes(flipped), tmp_path, True)
    with pytest.raises(IntegrityError, match="from another file"):
        decrypt_stream(io.BytesIO(blob), io.BytesIO(), KEY, b"\x01" * 16, "f")


def test_header_errors_are_named(tmp_path):
    blob = _encrypt(b"x" * 10, tmp_path, False)
    newer = HEADER.pack(MAGIC, 2, CHUNK) + blob[HEADER.size :]
    with pytest.raises(IntegrityError, match="format version 2; this corpusforge reads version 1"):
        _decrypt(newer, tmp_path, False)
    with pytest.raises(IntegrityError, match="bad header"):
        _decrypt(b"PK\x03\x04" + blob[4:], tmp_path, False)
    huge = HEADER.pack(MAGIC, 1, 1 << 40) + blob[HEADER.size :]  # must not allocate 1 TiB
    with pytest.raises(IntegrityError, match="bad header"):
        _decrypt(huge, tmp_path, True)


def test_source_that_changes_size_while_read_is_refused(tmp_path):
    path = tmp_path / "growing"
    path.write_bytes(os.urandom(4 * CHUNK))

    class Growing(io.FileIO):
        def readinto(self, b):  # not used when mapped; appends on the first map instead
            raise AssertionError

    with Growing(path, "rb") as src:
        chunks, check_unchanged = envelope._chunks(src, CHUNK, 2)
        next(chunks)
        with open(path, "ab") as f:
            f.write(b"more")
        with pytest.raises(InputError, match="changed size"):
            check_unchanged()


def test_memory_stays_bounded_for_a_large_file(tmp_path, monkeypatch):
    """Python-level allocations stay within buffer_bytes() whatever the file size."""
    monkeypatch.setattr(envelope, "BATCH_BYTES", 1 << 20)
    chunk = 256 << 10
    size = 24 << 20
    (tmp_path / "plain").write_bytes(os.urandom(size))
    for mapped in (True, False):
        tracemalloc.start()
        try:
            with open(tmp_path / "plain", "rb", buffering=0 if mapped else -1) as raw:
                src = raw if mapped else io.BufferedReader(_Unmappable(raw))
                with open(tmp_path / "sealed", "wb") as dst:
                    encrypt_stream(src, dst, KEY, FILE_ID, chunk)
            with open(tmp_path / "sealed", "rb") as src, open(tmp_path / "out", "wb") as dst:
                info = decrypt_stream(src, dst, KEY, FILE_ID, "f", size)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert info["size"] == size
        limit = envelope.buffer_bytes(chunk) + (0 if mapped else 4 << 20) + (1 << 20)
        assert peak < limit, (mapped, peak, limit)
        assert peak < size // 4


class _Unmappable(io.RawIOBase):
    """A readable stream without a file descriptor (like a network object)."""

    def __init__(self, raw):
        self._raw = raw

    def readable(self):
        return True

    def readinto(self, b):
        return self._raw.readinto(b)
