"""Master keys behind a small provider interface: wrap/unwrap data keys and MAC manifests.

The store never sees a master key directly, only a `KeyProvider`, so a cloud KMS
(Encrypt/Decrypt + GenerateMac) or a HashiCorp Vault transit key (encrypt/decrypt/hmac)
can replace the local provider without touching the store. The local provider keeps a
keyring (active key + keys being rotated out) in a 0600 key file or in environment
variables. Key ids are HMAC fingerprints of the key, safe to record; key bytes never leave
this module and never appear in errors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from corpusforge.core.errors import ConfigError, IntegrityError
from corpusforge.core.hashing import decode_base64_key

KEY_BYTES = 32
ENV_MASTER_KEY = "CORPUSFORGE_MASTER_KEY"
ENV_PREVIOUS_KEYS = "CORPUSFORGE_MASTER_KEY_PREVIOUS"  # comma-separated, for rotation
KEY_FILE_NAME = "master.key"


class WrongMasterKey(IntegrityError):
    """Data sealed under a master key this provider does not hold."""


@runtime_checkable
class KeyProvider(Protocol):
    """What the store needs from a key-management system."""

    @property
    def active_key_id(self) -> str: ...

    def has_key(self, key_id: str) -> bool: ...

    def wrap(self, data_key: bytes, context: bytes) -> dict[str, str]:
        """Encrypt a data key under the active master key, bound to `context`."""
        ...

    def unwrap(self, wrapped: Mapping[str, str], context: bytes) -> bytes: ...

    def mac(self, data: bytes, key_id: str | None = None) -> str:
        """Hex HMAC of `data` under `key_id` (default: the active key)."""
        ...


def key_id_of(key: bytes) -> str:
    return "k-" + hmac.new(key, b"corpusforge master key id", hashlib.sha256).hexdigest()[:16]


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(hashes.SHA256(), KEY_BYTES, salt=None, info=b"corpusforge/" + purpose).derive(key)


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _decode_key(text: str, where: str) -> bytes:
    return decode_base64_key(text, where, KEY_BYTES)


@dataclass
class LocalKeyProvider:
    """A keyring held in this process: from a key file or from environment variables."""

    keys: dict[str, bytes]
    active: str
    path: Path | None = None
    _wrap_keys: dict[str, AESGCM] = field(default_factory=dict, repr=False)
    _mtime: int = field(default=0, repr=False)

    def _refresh(self) -> None:
        """Pick up a rotation done by another process (long-running trainers, CLI)."""
        if self.path is None:
            return
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if mtime != self._mtime:
            fresh = LocalKeyProvider.from_file(self.path)
            self.keys, self.active, self._mtime = fresh.keys, fresh.active, fresh._mtime

    @property
    def active_key_id(self) -> str:
        self._refresh()
        return self.active

    def has_key(self, key_id: str) -> bool:
        self._refresh()
        return key_id in self.keys

    def _key(self, key_id: str) -> bytes:
        self._refresh()
        if key_id not in self.keys:
            raise WrongMasterKey(
                f"sealed with master key {key_id}, but the configured master key is "
                f"{self.active} (wrong master key, or a rotation that was not completed)"
            )
        return self.keys[key_id]

    def wrap(self, data_key: bytes, context: bytes) -> dict[str, str]:
        key_id = self.active_key_id
        aead = self._wrap_keys.get(key_id) or AESGCM(_derive(self._key(key_id), b"wrap"))
        self._wrap_keys[key_id] = aead
        nonce = secrets.token_bytes(12)
        return {
            "key_id": key_id,
            "nonce": _b64(nonce),
            "wrapped": _b64(aead.encrypt(nonce, data_key, context)),
        }

    def unwrap(self, wrapped: Mapping[str, str], context: bytes) -> bytes:
        key_id = wrapped["key_id"]
        aead = AESGCM(_derive(self._key(key_id), b"wrap"))
        try:
            return aead.decrypt(
                base64.b64decode(wrapped["nonce"]), base64.b64decode(wrapped["wrapped"]), context
            )
        except InvalidTag as exc:
            raise IntegrityError("a wrapped data key failed authentication") from exc

    def mac(self, data: bytes, key_id: str | None = None) -> str:
        mac_key = _derive(self._key(key_id or self.active_key_id), b"manifest-mac")
        return hmac.new(mac_key, data, hashlib.sha256).hexdigest()

    # -- rotation (local keyring only; a KMS rotates its own keys) --------------------------
    def rotate(self) -> str:
        """Add a fresh key and make it active; old keys stay until `retire_inactive`."""
        if self.path is None:
            raise ConfigError(
                f"keys from the environment rotate outside corpusforge: set {ENV_MASTER_KEY} "
                f"to the new key and {ENV_PREVIOUS_KEYS} to the old one, then run rotate-key"
            )
        self._refresh()
        key = new_key()
        self.active = key_id_of(key)
        self.keys[self.active] = key
        self.save()
        return self.active

    def undo_rotation(self, added: str, previous: str) -> None:
        """Take back a key `rotate` added, before anything was sealed under it."""
        assert self.path is not None
        self._refresh()
        if added in self.keys and previous in self.keys and added != previous:
            del self.keys[added]
            self.active = previous
            self.save()

    def retire_inactive(self) -> list[str]:
        """Drop every key but the active one. Only the store may call this, after it has
        checked that nothing anywhere still references those keys (`rotate_key`)."""
        self._refresh()
        retired = [k for k in self.keys if k != self.active]
        if self.path is not None and retired:
            self.keys = {self.active: self.keys[self.active]}
            self.save()
        return retired

    def save(self) -> None:
        assert self.path is not None
        body = {"active": self.active, "keys": {k: _b64(v) for k, v in self.keys.items()}}
        write_private_file(self.path, json.dumps(body, indent=2) + "\n")
        self._mtime = self.path.stat().st_mtime_ns

    # -- constructors ---------------------------------------------------------------------
    @classmethod
    def create_file(cls, path: Path) -> LocalKeyProvider:
        """A fresh keyring at `path`; never replaces one that exists (even one created by a
        concurrent `store init` a moment ago)."""
        if path.exists():
            raise ConfigError(f"{path} already exists; refusing to overwrite a master key")
        key = new_key()
        provider = cls(keys={key_id_of(key): key}, active=key_id_of(key), path=path)
        body = {"active": provider.active, "keys": {provider.active: _b64(key)}}
        write_private_file(path, json.dumps(body, indent=2) + "\n", exclusive=True)
        provider._mtime = path.stat().st_mtime_ns
        return provider

    @classmethod
    def from_file(cls, path: Path) -> LocalKeyProvider:
        if not path.is_file():
            raise ConfigError(f"master key file {path} not found (run `corpusforge store init`)")
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"master key file {path} is readable by others (mode {mode:o}); chmod 600 it"
            )
        try:
            body = json.loads(path.read_text())
            keys = {k: _decode_key(v, f"key {k} in {path}") for k, v in body["keys"].items()}
            active = body["active"]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"master key file {path} is not a corpusforge keyring") from exc
        for key_id, key in keys.items():
            if key_id_of(key) != key_id:
                raise ConfigError(f"master key file {path}: key {key_id} does not match its id")
        if active not in keys:
            raise ConfigError(f"master key file {path}: active key {active} is missing")
        return cls(keys=keys, active=active, path=path, _mtime=path.stat().st_mtime_ns)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LocalKeyProvider:
        env = os.environ if environ is None else environ
        active_key = _decode_key(env[ENV_MASTER_KEY], ENV_MASTER_KEY)
        keys = {key_id_of(active_key): active_key}
        for text in filter(None, env.get(ENV_PREVIOUS_KEYS, "").split(",")):
            key = _decode_key(text, ENV_PREVIOUS_KEYS)
            keys[key_id_of(key)] = key
        return cls(keys=keys, active=key_id_of(active_key))


def write_private_file(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write `text` to `path` atomically, readable by the owner only (0600 from creation).

    `exclusive`: create only; a file already at `path` is never replaced (ConfigError).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            try:
                os.link(tmp, path)  # atomic create-if-absent
            except FileExistsError:
                raise ConfigError(f"{path} already exists; refusing to overwrite it") from None
            tmp.unlink()
        else:
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class MasterKeyMissing(ConfigError):
    """The workspace has a store but its master key is gone (restore it from a backup)."""


def default_key_provider(keys_dir: Path) -> LocalKeyProvider:
    """`CORPUSFORGE_MASTER_KEY` when set, else the key file in the workspace's keys dir."""
    if os.environ.get(ENV_MASTER_KEY):
        return LocalKeyProvider.from_env()
    return LocalKeyProvider.from_file(keys_dir / KEY_FILE_NAME)
