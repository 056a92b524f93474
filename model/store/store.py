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
import fcntl
import json
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import fsspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fsspec.implementations.local import LocalFileSystem

from corpusforge.core.audit import AuditLog
from corpusforge.core.errors import (
    AccessDenied,
    ConfigError,
    CorpusforgeError,
    InputError,
    IntegrityError,
)
from corpusforge.core.hashing import canonical_json
from corpusforge.core.workspace import Workspace
from corpusforge.model.store import manifest as sealed_manifest
from corpusforge.model.store.envelope import (
    DEFAULT_CHUNK_BYTES,
    RangeReader,
    decrypt_stream,
    encrypt_stream,
)
from corpusforge.model.store.keys import (
    ENV_MASTER_KEY,
    KEY_FILE_NAME,
    KeyProvider,
    LocalKeyProvider,
    MasterKeyMissing,
    default_key_provider,
)
from corpusforge.model.store.names import validate_name, validate_relative_file
from corpusforge.model.store.policy import Decision, classify, decide
from corpusforge.model.store.registry import AuthenticationFailed, Principal, Registry, token_id_of

MANIFEST = "@manifest.json"
DEFAULT_FILE_MODE = 0o600  # decrypted checkpoint files: owner only unless the caller says so
MAX_TOKEN_TTL = timedelta(days=3650)
ENV_TOKEN = "CORPUSFORGE_TOKEN"
ENV_STORE_URL = "CORPUSFORGE_STORE_URL"
ENV_STORE_OPTIONS = "CORPUSFORGE_STORE_OPTIONS"  # JSON fsspec storage options
T = TypeVar("T")
# Storage options never recorded with a store URL (they hold credentials, not locations).
_SECRET_OPTION_WORDS = (
    "secret",
    "token",
    "password",
    "passwd",
    "passphrase",
    "credential",
    "session",
    "auth",
    "connection_string",
)
_SECRET_OPTION_NAMES = ("key", "access_key", "account_key", "sas", "sas_token", "anon_key")


class _NameTaken(Exception):
    """Another put committed the same checkpoint name first."""


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
        self.storage_options = dict(storage_options or {})
        self.fs, self.root = fsspec.core.url_to_fs(url, **self.storage_options)
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

    def record_refusal(self, action: str, obj: str, reason: str) -> None:
        """Audit a refusal decided outside the store (e.g. the CLI could not read its input)."""
        principal = self._principal_or_none()
        self._record(
            action,
            obj,
            "deny",
            reason,
            actor=principal.name if principal else None,
            token_id=principal.token_id if principal else None,
        )

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

    def _refuse(
        self,
        principal: Principal,
        action: str,
        obj: str,
        exc: BaseException,
        hide: dict[str, str] | None = None,
    ) -> None:
        """Record a refusal or failure after an allowed start: `deny` for a request that
        cannot be served (bad input, a name that exists or not), `error` for the rest.
        `hide` replaces local paths (which may name a person) by a label in the entry."""
        reason = _reason(exc)
        for path, label in (hide or {}).items():
            reason = reason.replace(path, label)
        self._record(
            action,
            obj,
            "deny" if isinstance(exc, InputError | AccessDenied) else "error",
            reason,
            actor=principal.name,
            token_id=principal.token_id,
        )

    def _checked_name(self, action: str, name: str) -> str:
        try:
            return validate_name(name)
        except InputError as exc:
            shown = name[:120] if isinstance(name, str) and name.isprintable() else repr(name)[:120]
            actor = self._actor_or_none()
            self._record(action, f"checkpoint:{shown}", "deny", str(exc), actor=actor)
            raise

    def _principal_or_none(self) -> Principal | None:
        with contextlib.suppress(CorpusforgeError):
            return self.principal
        return None

    def _actor_or_none(self) -> str | None:
        principal = self._principal_or_none()
        return principal.name if principal else None

    def _guard(
        self,
        principal: Principal,
        action: str,
        obj: str,
        fn: Callable[[], T],
        hide: dict[str, str] | None = None,
    ) -> T:
        """Run an allowed operation; record any refusal or failure, then re-raise it."""
        try:
            return fn()
        except (CorpusforgeError, OSError) as exc:
            self._refuse(principal, action, obj, exc, hide)
            raise

    @contextlib.contextmanager
    def _writers(self, *, exclusive: bool) -> Iterator[None]:
        """Puts and deletes share this workspace lock; a key rotation takes it alone, so no
        put can seal under a key that the rotation is about to retire."""
        path = self.registry.path.with_name("store.lock")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # releases the lock

    # -- paths ------------------------------------------------------------------------------
    @property
    def _local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def _manifest_path(self, name: str) -> str:
        return f"{self.root}/{name}/{MANIFEST}"

    def _object_path(self, name: str, file_id: str) -> str:
        return f"{self.root}/{name}/@{file_id}.enc"

    def _open_object(self, path: str, mode: str) -> BinaryIO:
        """Local folders: a plain file (mappable, preallocatable, no fsspec layer)."""
        if self._local:
            if "w" in mode:
                os.makedirs(os.path.dirname(path), exist_ok=True)
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

    def _commit_manifest(self, name: str, data: bytes) -> None:
        """Write the manifest only if the name is free (create-if-absent); raise _NameTaken
        when another put committed it first. This is what makes a name written once."""
        path = self._manifest_path(name)
        if self._local:
            tmp = f"{path}.{secrets.token_hex(8)}.tmp"
            _write_new_file(tmp, data, 0o644)
            try:
                os.link(tmp, path)  # atomic: fails if the manifest exists
            except FileExistsError:
                raise _NameTaken(name) from None
            finally:
                os.unlink(tmp)
        elif self.fs.protocol and "s3" in _protocols(self.fs):
            try:
                self.fs.pipe_file(path, data, IfNoneMatch="*")  # S3 conditional write
            except Exception as exc:
                if _precondition_failed(exc):
                    raise _NameTaken(name) from None
                raise
        else:  # other fsspec backends: best effort (documented)
            if self.fs.exists(path):
                raise _NameTaken(name)
            self.fs.pipe_file(path, data)

    def _replace_manifest(self, name: str, data: bytes) -> None:
        """Overwrite an existing manifest atomically (rotation re-seals in place)."""
        path = self._manifest_path(name)
        if self._local:
            tmp = f"{path}.{secrets.token_hex(8)}.tmp"
            _write_new_file(tmp, data, 0o644)
            try:
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        else:
            self.fs.pipe_file(path, data)

    def _discard_objects(self, name: str, paths: list[str]) -> None:
        """Remove what a failed put wrote; leave the folder only if someone else uses it."""
        for path in paths:
            with contextlib.suppress(OSError):
                self.fs.rm_file(path)
        if self._local:
            _remove_empty_dirs(Path(f"{self.root}/{name}"), Path(self.root))

    # -- the stores this workspace has written to -------------------------------------------
    def _workspace_root(self) -> Path:
        return self.registry.path.resolve().parent.parent  # <workspace>/store/registry.json

    def _store_ref(self) -> str:
        """How the registry records this store: a workspace-relative folder, an absolute
        folder or the URL (never the storage options' credentials)."""
        if self._local:
            path = Path(self.root).resolve()
            with contextlib.suppress(ValueError):
                return "workspace:" + path.relative_to(self._workspace_root()).as_posix()
            return path.as_posix()
        return self.url.rstrip("/")

    def _remember_store(self) -> None:
        """Record this store before the first object is written to it, so that a key
        rotation re-wraps it too (and never retires a key something here still needs)."""
        ref = self._store_ref()
        if ref in self.registry.load().get("stores", {}):
            return
        with self.registry.update() as body:
            body.setdefault("stores", {}).setdefault(
                ref,
                {
                    "options": _public_options(self.storage_options),
                    "first_put": datetime.now(UTC).isoformat(timespec="seconds"),
                },
            )

    def known_stores(self) -> list[SecureCheckpointStore]:
        """This store and every store the workspace has recorded a put to."""
        targets: dict[str, SecureCheckpointStore] = {self._store_ref(): self}
        for ref, record in self.registry.load().get("stores", {}).items():
            if ref in targets:
                continue
            url = (
                str(self._workspace_root() / ref.removeprefix("workspace:"))
                if ref.startswith("workspace:")
                else ref
            )
            targets[ref] = SecureCheckpointStore(
                registry=self.registry,
                keys=self.keys,
                url=url,
                audit=self.audit,
                token=self._token,
                storage_options=record.get("options") or {},
                chunk_bytes=self.chunk_bytes,
            )
        return list(targets.values())

    # -- CheckpointStorage ----------------------------------------------------------------
    def _authorize_put(
        self, name: str, metadata: Any
    ) -> tuple[str, str, dict, str, str, Principal]:
        """Name, metadata (as JSON data), classification and reason, and the principal allowed
        to put it; every refusal recorded."""
        name = self._checked_name("put", name)
        obj = f"checkpoint:{name}"
        try:
            metadata = json.loads(canonical_json(dict(metadata or {})))
            classification, why = classify(metadata)
        except (InputError, TypeError, ValueError) as exc:
            self.record_refusal("put", obj, f"metadata refused: {_reason(exc)}")
            if isinstance(exc, InputError):
                raise
            raise InputError(f"checkpoint {name}: metadata is not JSON data ({exc})") from None
        return name, obj, metadata, classification, why, self._authorize("put", obj, classification)

    def _refuse_taken(self, principal: Principal, name: str, obj: str) -> None:
        taken = self._guard(
            principal, "put", obj, lambda: self.fs.exists(self._manifest_path(name))
        )
        if taken:
            self._record(
                "put",
                obj,
                "deny",
                "checkpoint exists; checkpoints are immutable",
                actor=principal.name,
                token_id=principal.token_id,
            )
            raise InputError(f"checkpoint {name} already exists (checkpoints are immutable)")

    def put_part(
        self, name: str, local_dir: Path, metadata: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Encrypt every file of `local_dir` as objects of checkpoint `name`, not yet committed:
        one process of a distributed job stores its own shards this way, in parallel with the
        others, and hands the returned entries (paths, hashes, wrapped data keys; no secret)
        to the process that commits them with `put_checkpoint(..., parts=...)`. Until then the
        objects belong to no checkpoint: nothing lists, fetches or trusts them. Authorized and
        audited as a put of `name` with the classification `metadata` implies."""
        name, obj, metadata, classification, why, principal = self._authorize_put(name, metadata)
        local_dir = Path(local_dir)
        hide = {str(local_dir): "<checkpoint part dir>"}
        files = self._guard(principal, "put", obj, lambda: _checkpoint_files(local_dir), hide)
        with self._writers(exclusive=False):
            self._refuse_taken(principal, name, obj)
            self._allow(
                principal,
                "put",
                obj,
                f"part of a checkpoint, classification {classification}: {why}",
                classification=classification,
                part=True,
                files=len(files),
                bytes=sum(size for _, _, size in files),
            )
            written: list[str] = []
            try:
                self._remember_store()
                return [self._encrypt_file(name, rel, path, written) for rel, path, _ in files]
            except BaseException as exc:
                self._discard_objects(name, written)
                self._refuse(principal, "put", obj, exc, hide)
                raise

    def discard_parts(self, name: str, parts: list[dict[str, Any]]) -> None:
        """Remove the objects of uncommitted parts (a distributed put that failed elsewhere).
        Only objects no committed manifest of `name` lists are removed."""
        name, obj, _, _, _, principal = self._authorize_put(name, {})
        with self._writers(exclusive=False):
            if self.fs.exists(self._manifest_path(name)):
                return  # committed (by this put or another): its objects are not ours to drop
            paths = [
                self._object_path(name, e["file_id"])
                for e in parts
                if isinstance(e, dict) and _is_file_id(e.get("file_id"))
            ]
            self._discard_objects(name, paths)
            self._allow(principal, "put", obj, "uncommitted parts removed", objects=len(paths))

    def put_checkpoint(
        self,
        name: str,
        local_dir: Path,
        metadata: dict[str, Any],
        parts: list[dict[str, Any]] | None = None,
    ) -> str:
        """Store every file of `local_dir` and the objects of `parts` (entries returned by
        `put_part` for this name) under one sealed manifest, atomically."""
        name, obj, metadata, classification, why, principal = self._authorize_put(name, metadata)
        local_dir = Path(local_dir)
        hide = {str(local_dir): "<checkpoint dir>"}
        files = self._guard(principal, "put", obj, lambda: _checkpoint_files(local_dir), hide)
        parts = list(parts or [])
        with self._writers(exclusive=False):
            self._refuse_taken(principal, name, obj)
            try:
                self._guard(principal, "put", obj, lambda: self._check_parts(name, parts, files))
            except BaseException:
                self.discard_parts(name, parts)
                raise
            self._allow(
                principal,
                "put",
                obj,
                f"classification {classification}: {why}",
                classification=classification,
                files=len(files) + len(parts),
                bytes=sum(size for _, _, size in files) + sum(e["size"] for e in parts),
                parts=len(parts) or None,
                **_lineage_facts(metadata),
            )
            written: list[str] = [self._object_path(name, e["file_id"]) for e in parts]
            try:
                self._remember_store()  # before the first object: rotation must find it
                entries = [self._encrypt_file(name, rel, path, written) for rel, path, _ in files]
                body = {
                    "format": sealed_manifest.FORMAT,
                    "name": name,
                    "created": datetime.now(UTC).isoformat(timespec="microseconds"),
                    "created_by": principal.name,
                    "classification": classification,
                    "classification_reason": why,
                    "metadata": metadata,
                    "files": sorted([*entries, *parts], key=lambda e: e["path"]),
                    "audit_head": self.audit.anchor(),  # the audit log's head, outside its db
                }
                self._commit_manifest(name, sealed_manifest.seal(body, self.keys))
            except _NameTaken:
                self._discard_objects(name, written)
                self._record(
                    "put",
                    obj,
                    "deny",
                    "checkpoint exists: a concurrent put committed it first; this put's "
                    "objects were removed",
                    actor=principal.name,
                    token_id=principal.token_id,
                )
                raise InputError(
                    f"checkpoint {name} already exists (another put stored it first; "
                    "nothing of this put was kept)"
                ) from None
            except BaseException as exc:
                self._discard_objects(name, written)
                self._refuse(principal, "put", obj, exc, hide)
                raise
            # A distributed put's commit clears what a died attempt of it left (a rerun
            # reaches the same step name). Plain puts do not: there a concurrent put of the
            # name may still be writing the objects its own failure will remove.
            with contextlib.suppress(OSError):
                stale = (
                    self._sweep_uncommitted(name, {e["file_id"] for e in body["files"]})
                    if parts
                    else 0
                )
                if stale:
                    self._allow(
                        principal,
                        "put",
                        obj,
                        "uncommitted objects of an earlier attempt removed",
                        objects=stale,
                    )
        return name

    def _sweep_uncommitted(self, name: str, committed: set[str]) -> int:
        """Remove the objects directly in `name`'s folder that its manifest does not list: parts
        of an attempt that died before its commit (a crashed rank). Nothing can commit them any
        more (the name is taken); a nested checkpoint's objects live in sub-folders."""
        removed = 0
        for entry in self.fs.ls(f"{self.root}/{name}", detail=True):
            base = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            file_id = base[1:-4] if base.startswith("@") and base.endswith(".enc") else None
            if entry.get("type") == "file" and _is_file_id(file_id) and file_id not in committed:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm_file(entry["name"])
                    removed += 1
        return removed

    def _check_parts(
        self, name: str, parts: list[dict[str, Any]], files: list[tuple[str, Path, int]]
    ) -> None:
        """Parts to commit must be what `put_part` wrote for this very checkpoint: well-formed
        entries, no path twice, a data key wrapped by this store's master key for this name and
        object (which also refuses a part written for another checkpoint), and the object in
        place. Their content is checked on every fetch (AES-GCM and the sealed sha256)."""
        seen = {rel for rel, _, _ in files}
        for entry in parts:
            if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
                raise IntegrityError(f"checkpoint {name}: a part entry is malformed")
            rel = validate_relative_file(entry["path"])
            label = f"checkpoint {name}: part {rel}"
            if rel in seen:
                raise IntegrityError(f"{label}: listed twice")
            seen.add(rel)
            if not _is_file_id(entry["file_id"]):
                raise IntegrityError(f"{label}: malformed object id")
            if not (isinstance(entry["size"], int) and isinstance(entry["sha256"], str)):
                raise IntegrityError(f"{label}: malformed size or hash")
            try:
                self.keys.unwrap(
                    entry["data_key"], sealed_manifest.key_context(name, entry["file_id"])
                )
            except Exception as exc:
                raise IntegrityError(
                    f"{label}: its data key was not wrapped for this checkpoint by this store"
                ) from exc
            if not self.fs.exists(self._object_path(name, entry["file_id"])):
                raise IntegrityError(f"{label}: encrypted object is missing")

    def _encrypt_file(self, name: str, rel: str, path: Path, written: list[str]) -> dict[str, Any]:
        file_id = secrets.token_hex(16)
        data_key = AESGCM.generate_key(bit_length=256)
        target = self._object_path(name, file_id)
        with _open_regular(path, rel) as src:
            written.append(target)
            with self._open_object(target, "wb") as dst:
                info = encrypt_stream(src, dst, data_key, bytes.fromhex(file_id), self.chunk_bytes)
        wrapped = self.keys.wrap(data_key, sealed_manifest.key_context(name, file_id))
        return {"path": rel, "file_id": file_id, **info, "data_key": wrapped}

    def get_checkpoint(
        self,
        name: str,
        dest_dir: Path,
        mode: int = DEFAULT_FILE_MODE,
        files: Collection[str] | Callable[[str], bool] | None = None,
    ) -> Path:
        """Verify and decrypt `name` into `dest_dir`, which must not exist or be an empty
        folder: the files are written into a fresh private folder beside it and moved into
        place whole, so nothing planted in the destination (a symbolic link) is followed.
        Files get `mode` (default 0600, owner only); folders the matching search bits.

        `files` fetches only some of the checkpoint's files: relative paths (each must be in
        the manifest) or a test on the path. The manifest is verified whole all the same."""
        name = self._checked_name("get", name)
        obj = f"checkpoint:{name}"
        self._authorize("get", obj)  # authenticated and allowed to get at all
        principal = self.principal
        body = self._guard(principal, "get", obj, lambda: self._read_manifest(name))
        classification = body["classification"]
        self._authorize("get", obj, classification)
        selected = self._guard(principal, "get", obj, lambda: _select(body, files))
        dest = Path(os.path.abspath(dest_dir))
        hide = {str(dest): "<destination>", str(dest.parent): "<destination folder>"}
        staging = self._guard(principal, "get", obj, lambda: _staging_for(dest, mode), hide)
        try:
            self._allow(
                principal,
                "get",
                obj,
                f"clearance {principal.clearance} covers {classification}",
                classification=classification,
                files=len(selected),
                bytes=sum(f["size"] for f in selected),
                of_files=len(body["files"]) if files is not None else None,
            )
            self._guard(
                principal,
                "get",
                obj,
                lambda: self._decrypt_all(body, selected, staging, mode),
                hide,
            )
            self._guard(principal, "get", obj, lambda: _move_into_place(staging, dest, mode), hide)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return dest

    def _decrypt_all(
        self, body: dict[str, Any], entries: list[dict[str, Any]], staging: Path, mode: int
    ) -> None:
        name = body["name"]
        for entry in entries:
            rel = validate_relative_file(entry["path"])
            label = f"checkpoint {name}: file {rel}"
            data_key = self.keys.unwrap(
                entry["data_key"], sealed_manifest.key_context(name, entry["file_id"])
            )
            try:
                src_cm = self._open_object(self._object_path(name, entry["file_id"]), "rb")
            except FileNotFoundError:
                raise IntegrityError(f"{label}: encrypted object is missing") from None
            with src_cm as src, _create_private(staging, rel, mode, label) as dst:
                file_id = bytes.fromhex(entry["file_id"])
                info = decrypt_stream(src, dst, data_key, file_id, label, entry["size"])
            if info["sha256"] != entry["sha256"] or info["size"] != entry["size"]:
                raise IntegrityError(f"{label}: sha256 does not match the manifest")

    @contextlib.contextmanager
    def open_ranges(self, name: str, path: str) -> Iterator[RangeReader]:
        """One file of checkpoint `name` for reading byte ranges: only the encrypted chunks
        that hold them are read and decrypted (see `RangeReader`). A process that needs a few
        pieces of a large shard file reads those, not the file. Authorized and audited as a
        get of the checkpoint, naming the file."""
        name = self._checked_name("get", name)
        obj = f"checkpoint:{name}"
        self._authorize("get", obj)
        principal = self.principal
        body = self._guard(principal, "get", obj, lambda: self._read_manifest(name))
        classification = body["classification"]
        self._authorize("get", obj, classification)
        entry = self._guard(principal, "get", obj, lambda: _select(body, [path])[0])
        rel = validate_relative_file(entry["path"])
        label = f"checkpoint {name}: file {rel}"
        self._allow(
            principal,
            "get",
            obj,
            f"clearance {principal.clearance} covers {classification}",
            classification=classification,
            file=rel,
            ranges=True,
        )

        def open_() -> tuple[BinaryIO, RangeReader]:
            data_key = self.keys.unwrap(
                entry["data_key"], sealed_manifest.key_context(name, entry["file_id"])
            )
            try:
                src = self._open_object(self._object_path(name, entry["file_id"]), "rb")
            except FileNotFoundError:
                raise IntegrityError(f"{label}: encrypted object is missing") from None
            try:
                return src, RangeReader(
                    src, data_key, bytes.fromhex(entry["file_id"]), label, entry["size"]
                )
            except BaseException:
                src.close()
                raise

        src, reader = self._guard(principal, "get", obj, open_)
        try:
            yield reader
        except (CorpusforgeError, OSError) as exc:
            self._refuse(principal, "get", obj, exc)
            raise
        finally:
            src.close()

    def listing(self, prefix: str = "") -> dict[str, Any]:
        """`checkpoints` the clearance covers; `damaged`: checkpoints whose manifest cannot be
        verified, by name for whoever may delete them (admins), else only as a count."""
        principal = self._authorize("list", f"prefix:{prefix}")
        flags = self.registry.flags()
        visible, hidden, damaged = [], 0, []
        for name in self._names():
            if not name.startswith(prefix):
                continue
            try:
                body = self._read_manifest(name)
            except IntegrityError as exc:
                damaged.append({"name": name, "damaged": True, "reason": str(exc)})
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
        may_see_damaged = decide(principal.roles, principal.clearance, "delete", "restricted")
        self._allow(
            principal,
            "list",
            f"prefix:{prefix}",
            "role permits list",
            listed=len(visible),
            hidden_above_clearance=hidden,
            damaged=[d["name"] for d in damaged][:50] or None,
        )
        return {
            "checkpoints": sorted(visible, key=lambda c: c["created"]),
            "damaged": damaged if may_see_damaged.allowed else [],
            "damaged_hidden": 0 if may_see_damaged.allowed else len(damaged),
        }

    def list_checkpoints(self, prefix: str = "") -> list[dict[str, Any]]:
        return self.listing(prefix)["checkpoints"]

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
        """Delete a checkpoint. One whose manifest is damaged (unverifiable: its
        classification is unknown) may be deleted by whoever may delete a restricted one."""
        name = self._checked_name("delete", name)
        obj = f"checkpoint:{name}"
        principal = self._authorize("delete", obj)
        with self._writers(exclusive=False):
            try:
                body = self._read_manifest(name)
            except IntegrityError as exc:
                self._authorize("delete", obj, "restricted")
                removed = self._guard(principal, "delete", obj, lambda: self._delete_damaged(name))
                self._allow(
                    principal,
                    "delete",
                    obj,
                    f"damaged checkpoint deleted ({exc})",
                    damaged=True,
                    objects=removed,
                )
                return
            except InputError as exc:
                self._refuse(principal, "delete", obj, exc)
                raise
            self._authorize("delete", obj, body["classification"])
            self._allow(principal, "delete", obj, "role permits delete")
            self.fs.rm_file(self._manifest_path(name))  # first: a half-deleted one is gone
            for entry in body["files"]:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm_file(self._object_path(name, entry["file_id"]))
            if self._local:
                _remove_empty_dirs(Path(f"{self.root}/{name}"), Path(self.root))

    def _delete_damaged(self, name: str) -> int:
        """Remove the store's own files (`@...`) directly in the checkpoint's folder: its
        manifest and objects, never another checkpoint nested below it."""
        folder = f"{self.root}/{name}"
        entries = self.fs.ls(folder, detail=True)
        mine = [
            e["name"]
            for e in entries
            if e.get("type") == "file" and e["name"].rstrip("/").rsplit("/", 1)[-1][:1] == "@"
        ]
        manifest = [p for p in mine if p.endswith("/" + MANIFEST)]
        for path in manifest + [p for p in mine if p not in manifest]:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(path)
        if self._local:
            _remove_empty_dirs(Path(folder), Path(self.root))
        return len(mine)

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
        self._guard(
            principal,
            "principal.add",
            f"principal:{name}",
            lambda: self.registry.add_principal(name, roles, clearance, kind),
        )
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
        record = self._guard(
            principal,
            "grant",
            f"principal:{name}",
            lambda: self.registry.set_grants(name, roles, clearance),
        )
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
        """A new token for principal `name`, returned once (only its hash is stored).

        `ttl=None` is a token without expiry (said explicitly); a zero or negative ttl is
        refused, never read as "no expiry"."""
        obj = f"principal:{name}"
        principal = self._authorize("token.issue", obj)
        if ttl is not None and (
            not isinstance(ttl, timedelta) or ttl <= timedelta(0) or ttl > MAX_TOKEN_TTL
        ):
            exc = InputError(
                f"--ttl-days must be more than 0 and at most {MAX_TOKEN_TTL.days} (leave it "
                "out for a token without expiry)"
            )
            self._refuse(principal, "token.issue", obj, exc)
            raise exc
        token_id, token = self._guard(
            principal, "token.issue", obj, lambda: self.registry.issue_token(name, ttl)
        )
        self._allow(
            principal,
            "token.issue",
            obj,
            "role permits token.issue",
            issued_token_id=token_id,
            ttl_seconds=int(ttl.total_seconds()) if ttl else None,
        )
        return token

    def revoke_token(self, token_id: str) -> None:
        principal = self._authorize("token.revoke", "token")
        owner = self._guard(
            principal, "token.revoke", "token", lambda: self.registry.revoke_token(token_id)
        )
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

    def rotate_key(self) -> dict[str, Any]:
        """New master key; re-wrap every data key and re-seal every manifest, in every store
        this workspace has written to, and the registry. Encrypted objects are not touched.

        Nothing changes unless every known store can be read first. An old key leaves the
        keyring only when nothing sealed under it remains: a damaged manifest (which may
        reference it) keeps it. A failure before anything was sealed under the new key takes
        the new key back out; a later one keeps both keys (rerun to finish).
        """
        principal = self._authorize("rotate-key", "store")
        try:
            with self._writers(exclusive=True):
                result = self._rotate()
        except BaseException as exc:
            self._refuse(principal, "rotate-key", "store", exc)
            if isinstance(exc, CorpusforgeError) or not isinstance(exc, Exception):
                raise
            raise ConfigError(f"rotate-key failed: {_reason(exc)}") from exc
        self._allow(
            principal,
            "rotate-key",
            "store",
            "role permits rotate-key",
            old_key_id=result["old_key_id"],
            new_key_id=result["new_key_id"],
            stores=result["stores"],
            checkpoints=result["checkpoints"],
            data_keys=result["data_keys"],
            retired=len(result["retired"]),
            kept=result["kept"] or None,
            damaged=result["damaged"][:50] or None,
        )
        return result

    def _rotate(self) -> dict[str, Any]:
        try:
            stores = self.known_stores()
        except Exception as exc:
            raise ConfigError(
                f"rotate-key cannot open a store this workspace has written to "
                f"({_reason(exc)}); nothing was changed"
            ) from exc
        plan: list[tuple[SecureCheckpointStore, str, dict[str, Any]]] = []
        damaged: list[str] = []
        for store in stores:  # read everything before changing anything
            try:
                names = store._names()
            except Exception as exc:
                raise ConfigError(
                    f"rotate-key needs every store this workspace has written to; "
                    f"{store._store_ref()} cannot be read ({_reason(exc)}); nothing was changed"
                ) from exc
            for name in names:
                try:
                    plan.append((store, name, store._read_manifest(name)))
                except IntegrityError:
                    damaged.append(f"{store._store_ref()}:{name}")
        if any(store is self for store, _, _ in plan):
            self._remember_store()  # a store named with --store-url: the next rotation too
        old = self.keys.active_key_id
        added = None
        if isinstance(self.keys, LocalKeyProvider) and self.keys.path is not None:
            added = self.keys.rotate()
        new = self.keys.active_key_id
        sealed = rewrapped = 0
        try:
            for store, name, body in plan:
                for entry in body["files"]:
                    context = sealed_manifest.key_context(name, entry["file_id"])
                    if entry["data_key"]["key_id"] != new:
                        entry["data_key"] = self.keys.wrap(
                            self.keys.unwrap(entry["data_key"], context), context
                        )
                        rewrapped += 1
                store._replace_manifest(name, sealed_manifest.seal(body, self.keys))
                sealed += 1
            with self.registry.update():
                pass  # re-sealed under the active key on exit
            sealed += 1
        except BaseException as exc:
            if sealed == 0 and added is not None:
                self.keys.undo_rotation(added, old)  # nothing uses it: keyring as before
            if not isinstance(exc, Exception):  # interrupted: say nothing more
                raise
            if sealed == 0:
                raise ConfigError(
                    f"rotate-key failed before anything was sealed under a new key "
                    f"({_reason(exc)}); nothing was changed"
                ) from exc
            raise ConfigError(
                f"rotate-key stopped after re-sealing {sealed} of {len(plan)} checkpoints "
                f"({_reason(exc)}); keys {old} and {new} are both kept; rerun rotate-key"
            ) from exc
        retired: list[str] = []
        kept: list[str] = []
        if isinstance(self.keys, LocalKeyProvider) and self.keys.path is not None:
            if damaged:
                kept = [k for k in self.keys.keys if k != new]
            else:
                retired = self.keys.retire_inactive()
        return {
            "old_key_id": old,
            "new_key_id": new,
            "stores": len(stores),
            "checkpoints": len(plan),
            "data_keys": rewrapped,
            "retired": retired,
            "kept": kept,
            "damaged": damaged,
        }


def _lineage_facts(metadata: dict[str, Any]) -> dict[str, Any]:
    """Ids and hashes from checkpoint metadata worth keeping in the audit trail for lineage."""
    facts = {
        "trained_on": metadata.get("token_manifest_sha256"),
        "run": metadata.get("run"),
        "kind": metadata.get("kind"),
        "parent": metadata.get("parent_checkpoint"),
        "pii_scrubbed": metadata.get("pii_scrubbed"),
        "preference_data": metadata.get("preference_data_sha256"),
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


_ENTRY_KEYS = frozenset({"path", "file_id", "size", "sha256", "chunks", "data_key"})


def _is_file_id(value: Any) -> bool:
    return (
        isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value)
    )


def _select(
    body: dict[str, Any], files: Collection[str] | Callable[[str], bool] | None
) -> list[dict[str, Any]]:
    """The manifest entries a get fetches."""
    entries = body["files"]
    if files is None:
        return entries
    if callable(files):
        return [e for e in entries if files(e["path"])]
    wanted = set(files)
    chosen = [e for e in entries if e["path"] in wanted]
    missing = wanted - {e["path"] for e in chosen}
    if missing:
        shown = ", ".join(sorted(missing)[:3])
        raise InputError(f"checkpoint {body['name']} has no file {shown}")
    return chosen


def _reason(exc: BaseException) -> str:
    """One line for an audit entry or an error: the message of our own errors, the kind and
    OS reason of others (never a traceback, never the arguments of a library call)."""
    if isinstance(exc, CorpusforgeError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__


def _protocols(fs: Any) -> tuple[str, ...]:
    return (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)


def _precondition_failed(exc: BaseException) -> bool:
    """An S3 conditional write refused because the object exists (HTTP 412), whichever way
    s3fs/botocore report it."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            error = response.get("Error", {})
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if error.get("Code") in ("PreconditionFailed", "412") or status == 412:
                return True
        if "PreconditionFailed" in str(seen) or "(412)" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _public_options(options: Any) -> Any:
    """Storage options worth recording with a store URL: locations and settings, never
    credentials (keys whose names say secret, token, password, key...)."""
    if isinstance(options, dict):
        kept = {}
        for k, v in options.items():
            low = str(k).lower()
            if low in _SECRET_OPTION_NAMES or low.endswith("_key") or low.endswith("_key_id"):
                continue
            if any(word in low for word in _SECRET_OPTION_WORDS):
                continue
            value = _public_options(v)
            if value is not _DROP:
                kept[str(k)] = value
        return kept
    if isinstance(options, list | tuple):
        return [v for v in (_public_options(x) for x in options) if v is not _DROP]
    if options is None or isinstance(options, str | int | float | bool):
        return options
    return _DROP


_DROP = object()


def _write_new_file(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _remove_empty_dirs(folder: Path, root: Path) -> None:
    """Remove `folder` and its parents up to (not including) `root` while they are empty."""
    root = Path(os.path.abspath(root))
    folder = Path(os.path.abspath(folder))
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty (another checkpoint, a concurrent put) or gone
            return
        folder = folder.parent


def _checkpoint_files(local_dir: Path) -> list[tuple[str, Path, int]]:
    """(relative path, path, size) of every file; anything that is not a regular file or a
    folder (a symbolic link, a FIFO, a socket, a device) is refused, not skipped."""
    try:
        top = os.stat(local_dir)
    except OSError:
        raise InputError(f"{local_dir}: no such checkpoint directory") from None
    if not stat.S_ISDIR(top.st_mode):
        raise InputError(f"{local_dir}: not a checkpoint directory")
    files = []

    def refuse(err: OSError) -> None:
        raise InputError(f"{local_dir}: cannot read the checkpoint directory ({_reason(err)})")

    for folder, dirs, names in os.walk(local_dir, onerror=refuse):
        for entry in sorted(dirs + names):
            path = Path(folder) / entry
            st = os.lstat(path)
            rel = path.relative_to(local_dir).as_posix()
            if stat.S_ISLNK(st.st_mode):
                raise InputError(f"{path}: symbolic links are not stored (copy the file instead)")
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                raise InputError(
                    f"{path}: not a regular file ({_file_kind(st.st_mode)}); only regular "
                    "files are stored"
                )
            files.append((validate_relative_file(rel), path, st.st_size))
    if not files:
        raise InputError(f"{local_dir}: checkpoint directory is empty")
    return sorted(files)


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return kind
    return "a special file"


@contextlib.contextmanager
def _open_regular(path: Path, rel: str) -> Iterator[BinaryIO]:
    """Open a checkpoint file for reading without following a link and without blocking on
    a FIFO swapped in after the directory was listed; refuse anything but a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({_reason(exc)}; replaced while storing?)") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{path}: not a regular file ({_file_kind(st.st_mode)})")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        yield f


def _dir_mode(mode: int) -> int:
    """The folder mode that goes with a file mode: search wherever reading is allowed."""
    return mode | ((mode & 0o444) >> 2)


def _check_mode(mode: int) -> int:
    if not isinstance(mode, int) or mode & ~0o777 or not mode & 0o400:
        raise InputError(f"file mode {mode!r} must be octal permission bits with owner read")
    return mode


def _staging_for(dest: Path, mode: int) -> Path:
    """A fresh private folder beside `dest` to decrypt into. `dest` must be absent or an
    empty folder, and not a symbolic link: nothing in it can be followed."""
    _check_mode(mode)
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise InputError(f"{dest}: cannot be used as the destination ({_reason(exc)})") from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise InputError(f"{dest}: is a symbolic link; refusing to write through it")
        if not stat.S_ISDIR(st.st_mode):
            raise InputError(f"{dest}: exists and is not a directory")
        try:
            with os.scandir(dest) as it:
                not_empty = any(True for _ in it)
        except OSError as exc:
            raise InputError(f"{dest}: cannot be read ({_reason(exc)})") from None
        if not_empty:
            raise InputError(
                f"{dest}: exists and is not empty; fetch into a new or empty directory"
            )
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    except OSError as exc:
        raise InputError(f"{dest}: cannot write there ({_reason(exc)})") from None


@contextlib.contextmanager
def _create_private(staging: Path, rel: str, mode: int, label: str) -> Iterator[BinaryIO]:
    """Create `staging/rel` (new, not through a link) with exactly `mode`."""
    out = staging / rel
    try:
        for parent in reversed(out.relative_to(staging).parents[:-1]):
            folder = staging / parent
            with contextlib.suppress(FileExistsError):
                folder.mkdir(mode=0o700)
            if not stat.S_ISDIR(os.lstat(folder).st_mode):
                raise IntegrityError(f"{label}: the manifest lists a file inside a file")
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise IntegrityError(f"{label}: listed twice in the manifest") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot be written ({_reason(exc)})") from None
    os.fchmod(fd, mode)  # the caller's explicit choice, whatever the umask
    with os.fdopen(fd, "wb") as f:
        yield f


def _move_into_place(staging: Path, dest: Path, mode: int) -> None:
    """Give the folders their mode, then rename the staging folder to `dest` in one step
    (replacing an empty folder; never following a link planted meanwhile)."""
    for folder, _dirs, _files in os.walk(staging):
        os.chmod(folder, _dir_mode(mode))
    try:
        os.rename(staging, dest)
    except OSError as exc:
        raise InputError(
            f"{dest}: could not move the checkpoint into place ({_reason(exc)}); "
            "the destination changed while fetching"
        ) from None


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
    token = token if token is not None else os.environ.get(ENV_TOKEN)
    if keys is None:
        try:
            keys = default_key_provider(ws.keys_dir)
        except ConfigError as exc:
            refusal = _missing_key(ws) or exc
            _audit_refusal(ws, "store.open", refusal, token)
            raise refusal from None
    audit = AuditLog.for_workspace(ws)
    return SecureCheckpointStore(
        registry=Registry(registry_path(ws), keys, audit),
        keys=keys,
        url=url or default_store_url(ws),
        audit=audit,
        token=token,
        storage_options=_storage_options(storage_options),
    )


def _missing_key(ws: Workspace) -> MasterKeyMissing | None:
    """The refusal for a store whose master key is gone (its registry is still there)."""

    key_file = ws.keys_dir / KEY_FILE_NAME
    if os.environ.get(ENV_MASTER_KEY) or key_file.exists() or not registry_path(ws).exists():
        return None
    return MasterKeyMissing(
        f"the store's master key {key_file} is missing: restore it from your backup (or set "
        f"{ENV_MASTER_KEY}); without it nothing in the store can be opened, and a new key "
        "would not help (`store init` refuses to make one)"
    )


def _audit_refusal(ws: Workspace, action: str, exc: BaseException, token: str | None) -> None:
    """Record a refusal that happens before a store object exists (ids only)."""
    from corpusforge.model.store.registry import token_id_of

    details = {"reason": str(exc), "claimed_token_id": token_id_of(token or "")}
    AuditLog.for_workspace(ws).append(
        action,
        "store",
        actor="anonymous" if action != "store.init" else None,
        decision="error" if isinstance(exc, MasterKeyMissing | IntegrityError) else "deny",
        details={k: v for k, v in details.items() if v is not None},
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
    ws.store_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # One init at a time; every check comes before the first change.
    fd = os.open(ws.store_dir / "init.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return _bootstrap(ws, admin, services, keys)
    finally:
        os.close(fd)


def _bootstrap(
    ws: Workspace,
    admin: str,
    services: dict[str, tuple[list[str], str]] | None,
    keys: KeyProvider | None,
) -> dict[str, str]:

    path = registry_path(ws)
    if path.exists():
        missing = _missing_key(ws) if keys is None else None
        refusal = ConfigError(
            f"store already initialised ({path} exists)"
            + (f"; {missing}" if missing else "")
            + "; nothing was changed"
        )
        _audit_refusal(ws, "store.init", refusal, None)
        raise refusal
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
    audit = AuditLog.for_workspace(ws)
    registry = Registry(path, registry_keys, audit)
    registry.create()
    services = services if services is not None else {"svc:trainer": (["trainer"], "restricted")}
    registry.add_principal(admin, ["admin"], "restricted", "user")
    for name, (roles, clearance) in services.items():
        registry.add_principal(name, roles, clearance, "service")
    tokens = {name: registry.issue_token(name, None)[1] for name in [admin, *services]}
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
    """Fetch a checkpoint for the duration of a block, then delete the plaintext copy.
    A refused fetch deletes nothing (the destination may be someone's folder)."""
    path = store.get_checkpoint(name, dest)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
