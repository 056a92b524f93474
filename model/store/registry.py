"""Principals, roles, clearance and API tokens in one HMAC-sealed JSON file.

Why a JSON file and not a database: the registry is small (tens of principals), is read on
every store call and lives beside the master key in the workspace. Sealing the whole file
with an HMAC under the master key means an edit made with plain file access (raising one's
own clearance, un-revoking a token, adding a principal) is detected and refused, which a
SQLite table would not give without the same MAC. Updates take an exclusive file lock and
replace the file atomically.

Rollback: a sealed copy from before a revocation is still a valid seal. Every write therefore
raises the registry's `version` (inside the seal) and records the version and the body's
sha256 in the audit log (`registry.write`); on load the registry's version must not be below
the latest recorded one, and at that version its hash must match.

Tokens are `cft_<token id>_<secret>`. Only an argon2id hash of the secret is stored; the
token id is a public lookup handle (like an access-key id) and is what audit entries name.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from corpusforge.core.errors import AccessDenied, ConfigError, InputError, IntegrityError
from corpusforge.core.hashing import canonical_json
from corpusforge.model.store.keys import KeyProvider, WrongMasterKey, write_private_file
from corpusforge.model.store.policy import check_classification, check_roles

if TYPE_CHECKING:
    from corpusforge.core.audit import AuditLog

TOKEN_PREFIX = "cft_"
REGISTRY_ACTION = "registry.write"
# argon2id at the OWASP minimum (19 MiB, 2 passes): the secret is 256 random bits, so the
# hash only has to make an offline guess pointless, not to stretch a weak password.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class AuthenticationFailed(AccessDenied):
    """No, malformed, unknown, expired or revoked token."""


@dataclass(frozen=True)
class Principal:
    name: str
    roles: tuple[str, ...]
    clearance: str
    kind: str  # "user" or "service"
    token_id: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_token(token: str) -> tuple[str, str]:
    if not token.startswith(TOKEN_PREFIX) or token.count("_") < 2:
        raise AuthenticationFailed("malformed token (expected cft_<id>_<secret>)")
    token_id, _, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not token_id or not secret:
        raise AuthenticationFailed("malformed token (expected cft_<id>_<secret>)")
    return token_id, secret


def _version_of(body: dict[str, Any]) -> int:
    version = body.get("version", 0)
    return version if isinstance(version, int) and not isinstance(version, bool) else 0


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def token_id_of(token: str) -> str | None:
    """The public id of a token, or None when it is malformed."""
    try:
        return _parse_token(token)[0]
    except AuthenticationFailed:
        return None


class Registry:
    def __init__(self, path: Path, keys: KeyProvider, audit: AuditLog | None = None):
        self.path = path
        self.keys = keys
        self.audit = audit  # where each write's version is anchored (None: not checked)
        self._lock_path = path.with_name(path.name + ".lock")
        # token id -> (stored hash, sha256 of the secret): argon2 runs once per process.
        self._verified: dict[str, tuple[str, str]] = {}

    # -- persistence --------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> dict[str, Any]:
        if not self.path.exists():
            raise ConfigError(
                f"store not initialised: {self.path} missing (corpusforge store init)"
            )
        try:
            sealed = json.loads(self.path.read_text())
            body, mac, key_id = sealed["body"], sealed["mac"], sealed["key_id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"principal registry {self.path} is unreadable") from exc
        if not self.keys.has_key(key_id):
            raise WrongMasterKey(
                f"principal registry was sealed with master key {key_id}; the configured key "
                f"is {self.keys.active_key_id} (wrong master key)"
            )
        if not secrets.compare_digest(self.keys.mac(canonical_json(body).encode(), key_id), mac):
            raise IntegrityError(
                f"principal registry {self.path} failed authentication (edited outside corpusforge)"
            )
        self._check_version(body)
        return body

    def save(self, body: dict[str, Any]) -> None:
        body["version"] = _version_of(body) + 1
        mac = self.keys.mac(canonical_json(body).encode())
        sealed = {"body": body, "key_id": self.keys.active_key_id, "mac": mac}
        write_private_file(self.path, json.dumps(sealed, indent=1, sort_keys=True) + "\n")
        self._record_version(body, "ok", "registry written")

    # -- rollback protection ------------------------------------------------------------
    def _record_version(self, body: dict[str, Any], decision: str, reason: str) -> None:
        if self.audit is not None:
            self.audit.append(
                REGISTRY_ACTION,
                "store:registry",
                actor="system:store",
                decision=decision,
                details={"version": _version_of(body), "sha256": _digest(body), "reason": reason},
            )

    def _check_version(self, body: dict[str, Any]) -> None:
        """Refuse a registry older than the newest version the audit log records."""
        if self.audit is None:
            return
        last = self.audit.latest(REGISTRY_ACTION)
        if last is None:
            return  # written before versioning; its next write is recorded
        if not self.audit.is_authentic(last):
            raise IntegrityError(
                f"the audit entry {last.seq} recording the principal registry's version is not "
                "authentic (run corpusforge audit verify)"
            )
        version, recorded = _version_of(body), last.details.get("version")
        if not isinstance(recorded, int):
            raise IntegrityError(f"audit entry {last.seq} does not record a registry version")
        if version < recorded:
            raise IntegrityError(
                f"principal registry {self.path} was rolled back: it is version {version}, the "
                f"audit log records version {recorded} (entry {last.seq}); restore the newest copy"
            )
        if version == recorded and _digest(body) != last.details.get("sha256"):
            raise IntegrityError(
                f"principal registry {self.path} is not the version {version} recorded in the "
                f"audit log (entry {last.seq}): replaced"
            )
        if version > recorded:  # sealed with the master key but its audit entry was lost
            self._record_version(body, "recovered", "newer than the last recorded version")

    @contextlib.contextmanager
    def update(self) -> Iterator[dict[str, Any]]:
        """Read-modify-write under an exclusive lock."""
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            body = self.load() if self.exists() else {"principals": {}, "tokens": {}, "flags": {}}
            yield body
            self.save(body)

    def create(self) -> None:
        if self.exists():
            raise ConfigError(f"store already initialised ({self.path} exists)")
        self.save({"principals": {}, "tokens": {}, "flags": {}})

    # -- principals ---------------------------------------------------------------------
    def add_principal(self, name: str, roles: list[str], clearance: str, kind: str) -> None:
        if not name or len(name) > 100 or not name.isprintable() or " " in name:
            raise InputError("principal names are 1-100 printable characters without spaces")
        record = {
            "roles": check_roles(roles),
            "clearance": check_classification(clearance),
            "kind": kind,
            "created": _now().isoformat(timespec="seconds"),
        }
        with self.update() as body:
            if name in body["principals"]:
                raise InputError(f"principal {name} already exists")
            body["principals"][name] = record

    def set_grants(self, name: str, roles: list[str] | None, clearance: str | None) -> dict:
        with self.update() as body:
            record = body["principals"].get(name)
            if record is None:
                raise InputError(f"unknown principal {name}")
            if roles is not None:
                record["roles"] = check_roles(roles)
            if clearance is not None:
                record["clearance"] = check_classification(clearance)
            return dict(record)

    def principals(self) -> dict[str, dict[str, Any]]:
        return self.load()["principals"]

    # -- tokens -------------------------------------------------------------------------
    def issue_token(self, principal: str, ttl: timedelta | None) -> tuple[str, str]:
        """Return (token id, token). The token is shown once; only its hash is kept."""
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        now = _now()
        record = {
            "principal": principal,
            "hash": _HASHER.hash(secret),
            "created": now.isoformat(timespec="seconds"),
            "expires": (now + ttl).isoformat() if ttl else None,
            "revoked": None,
        }
        with self.update() as body:
            if principal not in body["principals"]:
                raise InputError(f"unknown principal {principal}")
            body["tokens"][token_id] = record
        return token_id, f"{TOKEN_PREFIX}{token_id}_{secret}"

    def revoke_token(self, token_id: str) -> str:
        """Revoke by token id (or by the whole token); return the principal it belonged to."""
        token_id = token_id_of(token_id) or token_id
        with self.update() as body:
            record = body["tokens"].get(token_id)
            if record is None:
                raise InputError(f"unknown token id {token_id}")
            record["revoked"] = _now().isoformat(timespec="seconds")
            return record["principal"]

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise AuthenticationFailed("no token given (pass --token or set CORPUSFORGE_TOKEN)")
        token_id, secret = _parse_token(token)
        body = self.load()
        record = body["tokens"].get(token_id)
        if record is None:
            raise AuthenticationFailed(f"unknown token id {token_id}")
        fingerprint = hashlib.sha256(secret.encode()).hexdigest()
        if self._verified.get(token_id) != (record["hash"], fingerprint):
            try:
                _HASHER.verify(record["hash"], secret)
            except (VerificationError, InvalidHashError):
                raise AuthenticationFailed(f"token {token_id}: secret does not match") from None
            self._verified[token_id] = (record["hash"], fingerprint)
        if record["revoked"]:
            raise AuthenticationFailed(f"token {token_id} was revoked at {record['revoked']}")
        if record["expires"] and datetime.fromisoformat(record["expires"]) <= _now():
            raise AuthenticationFailed(f"token {token_id} expired at {record['expires']}")
        name = record["principal"]
        p = body["principals"].get(name)
        if p is None:
            raise AuthenticationFailed(f"token {token_id}: its principal no longer exists")
        return Principal(name, tuple(p["roles"]), p["clearance"], p["kind"], token_id)

    def principal_of_token(self, token: str | None) -> str | None:
        """Who a (possibly invalid) token claims to be, for the audit entry of a refusal."""
        token_id = token_id_of(token or "")
        if token_id is None:
            return None
        with contextlib.suppress(Exception):
            record = self.load()["tokens"].get(token_id)
            return record["principal"] if record else None
        return None

    # -- checkpoint flags (erasure notices) -----------------------------------------------
    def flag_checkpoint(self, name: str, flag: dict[str, Any]) -> None:
        with self.update() as body:
            body.setdefault("flags", {}).setdefault(name, []).append(flag)

    def flags(self) -> dict[str, list[dict[str, Any]]]:
        return self.load().get("flags", {})
