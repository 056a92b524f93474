"""SecureCheckpointStore: encrypted, integrity-checked, access-controlled checkpoints.

Layout under the store URL (any fsspec URL; a local folder by default):

    <name>/@manifest.json      sealed manifest (written last: its presence commits a put)
    <name>/@<file id>.enc      one chunked AES-256-GCM stream per checkpoint file

Every call authenticates the token against the registry (revocation and grants take
effect at once), asks the policy, and appends an audit entry with principal, action,
object, decision and reason, whether allowed or not. Tokens and keys never reach the log.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import fsspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fsspec.implementations.local import LocalFileSystem

from corpusforge.core.audit import AuditLog
from corpusforge.core.errors import AccessDenied, CorpusforgeError, InputError, IntegrityError
from corpusforge.core.hashing import canonical_json
from corpusforge.core.workspace import Workspace
from corpusforge.model.store import manifest as sealed_manifest
from corpusforge.model.store.envelope import DEFAULT_CHUNK_BYTES, decrypt_stream, encrypt_stream
from corpusforge.model.store.keys import (
    ENV_MASTER_KEY,
    KEY_FILE_NAME,
    KeyProvider,
    LocalKeyProvider,
    default_key_provider,
)
from corpusforge.model.store.names import validate_name, validate_relative_file
from corpusforge.model.store.policy import Decision, classify, decide
from corpusforge.model.store.registry import AuthenticationFailed, Principal, Registry, token_id_of

MANIFEST = "@manifest.json"
ENV_TOKEN = "CORPUSFORGE_TOKEN"
ENV_STORE_URL = "CORPUSFORGE_STORE_URL"
ENV_STORE_OPTIONS = "CORPUSFORGE_STORE_OPTIONS"  # JSON fsspec storage options
T = TypeVar("T")


class SecureCheckpointStore:
    """Implements `corpusforge.model.storage.CheckpointStorage` for one (possibly
    unauthenticated) token."""

    def __init__(
        self,
        *,
        registry: Registry,
        keys: KeyProvider,
        url: str,
        audit: AuditLog,
        token: str | None,
        storage_options: dict[str, Any] | None = None,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ):
        self.registry = registry
        self.keys = keys
        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        self.root = self.root.rstrip("/")
        self.audit = audit
        self.chunk_bytes = chunk_bytes
        self._token = token  # kept in memory only; never logged, never in errors
        self._verified: tuple[str, str] | None = None

    # -- identity and decisions ---------------------------------------------------------
    @property
    def principal(self) -> Principal:
        """The authenticated principal (raises AuthenticationFailed when there is none)."""
        return self.registry.authenticate(self._token)

    def _record(self, action: str, obj: str, decision: str, reason: str, **extra: Any) -> None:
        actor = extra.pop("actor", None) or "anonymous"
        details = {"reason": reason, **{k: v for k, v in extra.items() if v is not None}}
        self.audit.append(f"store.{action}", obj, actor=actor, decision=decision, details=details)

    def _authorize(self, action: str, obj: str, classification: str | None = None) -> Principal:
        """Authenticate and decide; record a refusal and raise it, or return the principal."""
        try:
            principal = self.principal
        except CorpusforgeError as exc:  # no/bad token, tampered registry, wrong master key
            claimed = self.registry.principal_of_token(self._token)
            self._record(action, obj, "deny", str(exc), claimed_principal=claimed)
            if isinstance(exc, AccessDenied):
                raise
            raise AuthenticationFailed(f"{action} {obj} refused: {exc}") from exc
        decision: Decision = decide(principal.roles, principal.clearance, action, classification)
        if not decision.allowed:
            self._record(
                action,
                obj,
                "deny",
                decision.reason,
                actor=principal.name,
                token_id=principal.token_id,
                classification=classification,
            )
            raise AccessDenied(f"{principal.name} may not {action} {obj}: {decision.reason}")
        return principal

    def _allow(self, principal: Principal, action: str, obj: str, reason: str, **extra) -> None:
        self._record(
            action, obj, "allow", reason, actor=principal.name, token_id=principal.token_id, **extra
        )

    def _checked_name(self, action: str, name: str) -> str:
        try:
            return validate_name(name)
        except InputError as exc:
            shown = name[:120] if isinstance(name, str) and name.isprintable() else repr(name)[:120]
            actor = self._actor_or_none()
            self._record(action, f"checkpoint:{shown}", "deny", str(exc), actor=actor)
            raise

    def _actor_or_none(self) -> str | None:
        with contextlib.suppress(CorpusforgeError):
            return self.principal.name
        return None

    def _guard(self, principal: Principal, action: str, obj: str, fn: Callable[[], T]) -> T:
        """Run an allowed operation; record an integrity failure as a refusal."""
        try:
            return fn()
        except IntegrityError as exc:
            self._record(
                action, obj, "error", str(exc), actor=principal.name, token_id=principal.token_id
            )
            raise

    # -- paths ------------------------------------------------------------------------------
    def _manifest_path(self, name: str) -> str:
        return f"{self.root}/{name}/{MANIFEST}"

    def _object_path(self, name: str, file_id: str) -> str:
        return f"{self.root}/{name}/@{file_id}.enc"

    def _open_object(self, path: str, mode: str) -> BinaryIO:
        """Local folders: a plain file (mappable, preallocatable, no fsspec layer)."""
        if isinstance(self.fs, LocalFileSystem):
            return open(path, mode)  # noqa: SIM115 - the caller closes it
        return self.fs.open(path, mode)

    def _read_manifest(self, name: str) -> dict[str, Any]:
        path = self._manifest_path(name)
        try:
            raw = self.fs.cat_file(path)
        except FileNotFoundError:
            raise InputError(f"no checkpoint named {name}") from None
        return sealed_manifest.open_sealed(raw, name, self.keys)

    def _names(self) -> list[str]:
        if not self.fs.exists(self.root):
            return []
        suffix = "/" + MANIFEST
        found = self.fs.find(self.root)
        root = self.fs._strip_protocol(self.root).rstrip("/")
        return sorted(p[len(root) + 1 : -len(suffix)] for p in found if p.endswith(suffix))

    # -- CheckpointStorage ----------------------------------------------------------------
    def put_checkpoint(self, name: str, local_dir: Path, metadata: dict[str, Any]) -> str:
        name = self._checked_name("put", name)
        obj = f"checkpoint:{name}"
        metadata = json.loads(canonical_json(dict(metadata or {})))
        classification, why = classify(metadata)
        principal = self._authorize("put", obj, classification)
        files = _checkpoint_files(Path(local_dir))
        if self.fs.exists(self._manifest_path(name)):
            self._record(
                "put",
                obj,
                "deny",
                "checkpoint exists; checkpoints are immutable",
                actor=principal.name,
                token_id=principal.token_id,
            )
            raise InputError(f"checkpoint {name} already exists (checkpoints are immutable)")
        self._allow(
            principal,
            "put",
            obj,
            f"classification {classification}: {why}",
            classification=classification,
            files=len(files),
            bytes=sum(p.stat().st_size for _, p in files),
            **_lineage_facts(metadata),
        )
        self.fs.makedirs(f"{self.root}/{name}", exist_ok=True)  # local folders; no-op on S3
        entries = [self._encrypt_file(name, rel, path) for rel, path in files]
        body = {
            "format": sealed_manifest.FORMAT,
            "name": name,
            "created": datetime.now(UTC).isoformat(timespec="microseconds"),
            "created_by": principal.name,
            "classification": classification,
            "classification_reason": why,
            "metadata": metadata,
            "files": entries,
        }
        self.fs.pipe_file(self._manifest_path(name), sealed_manifest.seal(body, self.keys))
        return name

    def _encrypt_file(self, name: str, rel: str, path: Path) -> dict[str, Any]:
        file_id = secrets.token_hex(16)
        data_key = AESGCM.generate_key(bit_length=256)
        target = self._object_path(name, file_id)
        try:
            with open(path, "rb") as src, self._open_object(target, "wb") as dst:
                info = encrypt_stream(src, dst, data_key, bytes.fromhex(file_id), self.chunk_bytes)
        except BaseException:
            with contextlib.suppress(OSError):
                self.fs.rm_file(target)  # no orphan half-objects from a failed put
            raise
        wrapped = self.keys.wrap(data_key, sealed_manifest.key_context(name, file_id))
        return {"path": rel, "file_id": file_id, **info, "data_key": wrapped}

    def get_checkpoint(self, name: str, dest_dir: Path) -> Path:
        name = self._checked_name("get", name)
        obj = f"checkpoint:{name}"
        self._authorize("get", obj)  # authenticated and allowed to get at all
        principal = self.principal
        body = self._guard(principal, "get", obj, lambda: self._read_manifest(name))
        classification = body["classification"]
        self._authorize("get", obj, classification)
        self._allow(
            principal,
            "get",
            obj,
            f"clearance {principal.clearance} covers {classification}",
            classification=classification,
            files=len(body["files"]),
            bytes=sum(f["size"] for f in body["files"]),
        )
        return self._guard(principal, "get", obj, lambda: self._decrypt_all(body, Path(dest_dir)))

    def _decrypt_all(self, body: dict[str, Any], dest: Path) -> Path:
        name = body["name"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = dest.parent / f".{dest.name}.partial-{secrets.token_hex(4)}"
        staging.mkdir()
        try:
            for entry in body["files"]:
                rel = validate_relative_file(entry["path"])
                label = f"checkpoint {name}: file {rel}"
                data_key = self.keys.unwrap(
                    entry["data_key"], sealed_manifest.key_context(name, entry["file_id"])
                )
                out = staging / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                try:
                    src_cm = self._open_object(self._object_path(name, entry["file_id"]), "rb")
                except FileNotFoundError:
                    raise IntegrityError(f"{label}: encrypted object is missing") from None
                with src_cm as src, open(out, "wb") as dst:
                    file_id = bytes.fromhex(entry["file_id"])
                    info = decrypt_stream(src, dst, data_key, file_id, label, entry["size"])
                if info["sha256"] != entry["sha256"] or info["size"] != entry["size"]:
                    raise IntegrityError(f"{label}: sha256 does not match the manifest")
            _move_into(staging, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return dest

    def list_checkpoints(self, prefix: str = "") -> list[dict[str, Any]]:
        principal = self._authorize("list", f"prefix:{prefix}")
        flags = self.registry.flags()
        visible, hidden, damaged = [], 0, []
        for name in self._names():
            if not name.startswith(prefix):
                continue
            try:
                body = self._read_manifest(name)
            except IntegrityError:
                damaged.append(name)
                continue
            if (
                decide(principal.roles, principal.clearance, "get", body["classification"]).allowed
                or decide(
                    principal.roles, principal.clearance, "list", body["classification"]
                ).allowed
            ):
                visible.append(_summary(body, flags.get(name, [])))
            else:
                hidden += 1
        self._allow(
            principal,
            "list",
            f"prefix:{prefix}",
            "role permits list",
            listed=len(visible),
            hidden_above_clearance=hidden,
            damaged=damaged[:50] or None,
        )
        return sorted(visible, key=lambda c: c["created"])

    def exists(self, name: str) -> bool:
        name = self._checked_name("list", name)
        self._authorize("list", f"checkpoint:{name}")
        return self.fs.exists(self._manifest_path(name))

    # -- more than the protocol -----------------------------------------------------------
    def info(self, name: str) -> dict[str, Any]:
        """Verified manifest summary (metadata, classification, files) without keys."""
        name = self._checked_name("list", name)
        obj = f"checkpoint:{name}"
        principal = self._authorize("list", obj)
        body = self._guard(principal, "list", obj, lambda: self._read_manifest(name))
        self._authorize("list", obj, body["classification"])
        return _summary(body, self.registry.flags().get(name, []))

    def delete_checkpoint(self, name: str) -> None:
        name = self._checked_name("delete", name)
        obj = f"checkpoint:{name}"
        principal = self._authorize("delete", obj)
        body = self._guard(principal, "delete", obj, lambda: self._read_manifest(name))
        self._authorize("delete", obj, body["classification"])
        self._allow(principal, "delete", obj, "role permits delete")
        self.fs.rm_file(self._manifest_path(name))  # first: a half-deleted checkpoint is gone
        for entry in body["files"]:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(self._object_path(name, entry["file_id"]))

    def mark_affected(self, name: str, flag: dict[str, Any]) -> None:
        """Attach a notice (e.g. an erasure request) to a checkpoint; it shows in listings."""
        name = self._checked_name("mark", name)
        obj = f"checkpoint:{name}"
        principal = self._authorize("mark", obj)
        self._allow(
            principal,
            "mark",
            obj,
            "role permits mark",
            notice={k: v for k, v in flag.items() if isinstance(v, str | int | float | bool)},
        )
        self.registry.flag_checkpoint(name, flag)

    # -- administration -------------------------------------------------------------------
    def add_principal(self, name: str, roles: list[str], clearance: str, kind: str = "user"):
        principal = self._authorize("principal.add", f"principal:{name}")
        self.registry.add_principal(name, roles, clearance, kind)
        self._allow(
            principal,
            "principal.add",
            f"principal:{name}",
            "role permits principal.add",
            roles=",".join(sorted(roles)),
            clearance=clearance,
        )

    def grant(self, name: str, roles: list[str] | None = None, clearance: str | None = None):
        principal = self._authorize("grant", f"principal:{name}")
        record = self.registry.set_grants(name, roles, clearance)
        self._allow(
            principal,
            "grant",
            f"principal:{name}",
            "role permits grant",
            roles=",".join(record["roles"]),
            clearance=record["clearance"],
        )
        return record

    def issue_token(self, name: str, ttl: timedelta | None = None) -> str:
        """A new token for principal `name`, returned once (only its hash is stored)."""
        principal = self._authorize("token.issue", f"principal:{name}")
        token_id, token = self.registry.issue_token(name, ttl)
        self._allow(
            principal,
            "token.issue",
            f"principal:{name}",
            "role permits token.issue",
            issued_token_id=token_id,
            ttl_seconds=int(ttl.total_seconds()) if ttl else None,
        )
        return token

    def revoke_token(self, token_id: str) -> None:
        principal = self._authorize("token.revoke", "token")
        owner = self.registry.revoke_token(token_id)
        self._allow(
            principal,
            "token.revoke",
            f"principal:{owner}",
            "role permits token.revoke",
            revoked_token_id=self.registry_token_id(token_id),
        )

    @staticmethod
    def registry_token_id(token_or_id: str) -> str:
        return token_id_of(token_or_id) or token_or_id

    def rotate_key(self) -> dict[str, int | str]:
        """New master key; re-wrap every data key and re-seal manifests and the registry.

        Encrypted objects are not touched. Safe to rerun after a crash: the old key stays in
        the keyring until everything is sealed under the new one.
        """
        principal = self._authorize("rotate-key", "store")
        old = self.keys.active_key_id
        if isinstance(self.keys, LocalKeyProvider) and self.keys.path is not None:
            self.keys.rotate()
        new = self.keys.active_key_id
        rewrapped = 0
        names = self._names()
        for name in names:
            body = self._read_manifest(name)
            for entry in body["files"]:
                context = sealed_manifest.key_context(name, entry["file_id"])
                if entry["data_key"]["key_id"] != new:
                    entry["data_key"] = self.keys.wrap(
                        self.keys.unwrap(entry["data_key"], context), context
                    )
                    rewrapped += 1
            self.fs.pipe_file(self._manifest_path(name), sealed_manifest.seal(body, self.keys))
        with self.registry.update():
            pass  # re-sealed under the active key on exit
        retired = self.keys.retire_inactive() if isinstance(self.keys, LocalKeyProvider) else []
        self._allow(
            principal,
            "rotate-key",
            "store",
            "role permits rotate-key",
            old_key_id=old,
            new_key_id=new,
            checkpoints=len(names),
            data_keys=rewrapped,
            retired=len(retired),
        )
        return {
            "old_key_id": old,
            "new_key_id": new,
            "checkpoints": len(names),
            "data_keys": rewrapped,
        }


def _lineage_facts(metadata: dict[str, Any]) -> dict[str, Any]:
    """Ids and hashes from checkpoint metadata worth keeping in the audit trail for lineage."""
    facts = {
        "trained_on": metadata.get("token_manifest_sha256"),
        "run": metadata.get("run"),
        "kind": metadata.get("kind"),
        "parent": metadata.get("parent_checkpoint"),
        "pii_scrubbed": metadata.get("pii_scrubbed"),
    }
    return {k: v for k, v in facts.items() if isinstance(v, str | bool | int)}


def _summary(body: dict[str, Any], flags: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": body["name"],
        "classification": body["classification"],
        "classification_reason": body["classification_reason"],
        "created": body["created"],
        "created_by": body["created_by"],
        "metadata": body["metadata"],
        "files": len(body["files"]),
        "bytes": sum(f["size"] for f in body["files"]),
        "affected": flags,
    }


def _checkpoint_files(local_dir: Path) -> list[tuple[str, Path]]:
    if not local_dir.is_dir():
        raise InputError(f"{local_dir}: not a checkpoint directory")
    files = []
    for path in sorted(local_dir.rglob("*")):
        if path.is_symlink():
            raise InputError(f"{path}: symbolic links are not stored (copy the file instead)")
        if path.is_file():
            files.append((validate_relative_file(path.relative_to(local_dir).as_posix()), path))
    if not files:
        raise InputError(f"{local_dir}: checkpoint directory is empty")
    return files


def _move_into(staging: Path, dest: Path) -> None:
    if not dest.exists():
        staging.rename(dest)
        return
    for path in sorted(staging.rglob("*")):
        if path.is_file():
            target = dest / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)


# -- opening and bootstrapping --------------------------------------------------------------
def _workspace(workspace: Workspace | str | Path | None) -> Workspace:
    return workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)


def registry_path(ws: Workspace) -> Path:
    return ws.store_dir / "registry.json"


def default_store_url(ws: Workspace) -> str:
    return os.environ.get(ENV_STORE_URL) or str(ws.store_dir / "checkpoints")


def _storage_options(options: dict[str, Any] | None) -> dict[str, Any]:
    if options is not None:
        return options
    text = os.environ.get(ENV_STORE_OPTIONS)
    return json.loads(text) if text else {}


def open_store(
    workspace: Workspace | str | Path | None = None,
    token: str | None = None,
    *,
    url: str | None = None,
    storage_options: dict[str, Any] | None = None,
    keys: KeyProvider | None = None,
) -> SecureCheckpointStore:
    """The store of `workspace` acting for `token` (default: env CORPUSFORGE_TOKEN).

    Opening never fails on a bad token: every call is checked, refused and recorded.
    """
    ws = _workspace(workspace)
    keys = keys or default_key_provider(ws.keys_dir)
    return SecureCheckpointStore(
        registry=Registry(registry_path(ws), keys),
        keys=keys,
        url=url or default_store_url(ws),
        audit=AuditLog(ws.audit_url),
        token=token if token is not None else os.environ.get(ENV_TOKEN),
        storage_options=_storage_options(storage_options),
    )


def is_initialised(workspace: Workspace | str | Path | None = None) -> bool:
    return registry_path(_workspace(workspace)).exists()


def bootstrap_store(
    workspace: Workspace | str | Path | None = None,
    *,
    admin: str = "user:admin",
    services: dict[str, tuple[list[str], str]] | None = None,
    keys: KeyProvider | None = None,
) -> dict[str, str]:
    """First use: master key file (0600, unless a key comes from the environment), an admin
    and the training service identity. Returns {principal: token}; tokens are not kept."""
    ws = _workspace(workspace)
    path = registry_path(ws)
    registry_keys = keys
    if registry_keys is None:
        if os.environ.get(ENV_MASTER_KEY):
            registry_keys = LocalKeyProvider.from_env()
        else:
            key_file = ws.keys_dir / KEY_FILE_NAME
            registry_keys = (
                LocalKeyProvider.from_file(key_file)
                if key_file.exists()
                else LocalKeyProvider.create_file(key_file)
            )
    registry = Registry(path, registry_keys)
    registry.create()
    services = services if services is not None else {"svc:trainer": (["trainer"], "restricted")}
    registry.add_principal(admin, ["admin"], "restricted", "user")
    for name, (roles, clearance) in services.items():
        registry.add_principal(name, roles, clearance, "service")
    tokens = {name: registry.issue_token(name, None)[1] for name in [admin, *services]}
    audit = AuditLog(ws.audit_url)
    audit.append(
        "store.init",
        "store",
        actor=admin,
        decision="allow",
        details={
            "reason": "first use",
            "key_id": registry_keys.active_key_id,
            "principals": [admin, *services],
        },
    )
    return tokens


@contextlib.contextmanager
def fetched(store: SecureCheckpointStore, name: str, dest: Path) -> Iterator[Path]:
    """Fetch a checkpoint for the duration of a block, then delete the plaintext copy."""
    try:
        yield store.get_checkpoint(name, dest)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
