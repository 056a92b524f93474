"""Hash and key helpers shared by manifests, cache keys, the audit log and the store."""

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from corpusforge.core.errors import ConfigError

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def canonical_json(value: Any) -> str:
    """Stable JSON (sorted keys, no spaces) so equal values hash equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_json(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def decode_base64_key(text: str, where: str, size: int) -> bytes:
    """A `size`-byte key written as base64 (a key file, an environment variable); `where` names
    it in the error, which never holds the text."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        key = b""
    if len(key) != size:
        raise ConfigError(f"{where} is not a base64-encoded {size}-byte key")
    return key
