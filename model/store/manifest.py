"""The sealed checkpoint manifest: files with sha256, wrapped data keys, HMAC over it all.

The body names its checkpoint, so a valid manifest copied over another checkpoint's
manifest is refused; the HMAC key comes from the master key via the key provider, so a
manifest cannot be forged or edited (to lower a classification, swap a hash or a wrapped
key) without it.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from corpusforge.core.errors import IntegrityError
from corpusforge.core.hashing import canonical_json
from corpusforge.model.store.keys import KeyProvider, WrongMasterKey

FORMAT = "corpusforge-checkpoint/1"


def seal(body: dict[str, Any], keys: KeyProvider) -> bytes:
    mac = keys.mac(canonical_json(body).encode())
    sealed = {"body": body, "key_id": keys.active_key_id, "mac": mac}
    return (json.dumps(sealed, indent=1, sort_keys=True) + "\n").encode()


def open_sealed(raw: bytes, name: str, keys: KeyProvider) -> dict[str, Any]:
    """Verify and return the body of checkpoint `name`'s manifest."""
    try:
        sealed = json.loads(raw)
        body, mac, key_id = sealed["body"], sealed["mac"], sealed["key_id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"checkpoint {name}: manifest is unreadable (corrupt)") from exc
    if not keys.has_key(key_id):
        raise WrongMasterKey(
            f"checkpoint {name}: manifest sealed with master key {key_id}, the configured key "
            f"is {keys.active_key_id} (wrong master key)"
        )
    if not secrets.compare_digest(keys.mac(canonical_json(body).encode(), key_id), str(mac)):
        raise IntegrityError(f"checkpoint {name}: manifest failed authentication (tampered)")
    if body.get("format") != FORMAT or body.get("name") != name:
        raise IntegrityError(
            f"checkpoint {name}: manifest belongs to {body.get('name')!r} (swapped manifest)"
        )
    return body


def key_context(name: str, file_id: str) -> bytes:
    """Associated data binding a wrapped data key to its checkpoint and file."""
    return f"{FORMAT}\0{name}\0{file_id}".encode()
