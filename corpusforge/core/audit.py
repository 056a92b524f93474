"""Append-only audit log, chained by a keyed hash (SQLite by default, PostgreSQL by URL).

Each entry stores the hash of the previous entry; its own hash is an HMAC-SHA256, under a key
kept outside the database, over every field plus that link. Without the key nobody can write
an entry that verifies, so an edited, inserted or recomputed entry is caught, and deleting
or reordering entries breaks the sequence or the chain. The head (sequence number and hash of
the newest entry) is anchored outside the database, where a deletion in the database cannot
reach it: in an append-only witness file beside the key (`audit.witness`, one sealed line per
append), in every stage manifest and in every checkpoint manifest. `verify` checks the chain
and every anchor it can see, so a truncated tail, a rewritten head row, a dropped table or a
deleted database file fails even when the remaining rows are consistent. See docs/security.md
for what an attacker with access to the database, to the workspace or to both can still hide.

The key: `CORPUSFORGE_AUDIT_KEY` (base64, 32 bytes) when set, else `<workspace>/keys/audit.key`
(0600, created on first append). Entries written before keyed chaining (a plain SHA-256 chain)
stay verifiable as a legacy segment: the witness's first line pins its last entry.

Entries hold ids, hashes and counts: callers must never pass document text or PII values
(`recorded_id` turns an identifier that looks like PII into a keyed hash).
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import stat
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from corpusforge.core.errors import ConfigError, CorpusforgeError
from corpusforge.core.hashing import canonical_json, decode_base64_key
from corpusforge.core.workspace import Workspace

GENESIS_HASH = "0" * 64
ENV_AUDIT_KEY = "CORPUSFORGE_AUDIT_KEY"
AUDIT_KEY_FILE = "audit.key"
WITNESS_SUFFIX = ".witness"
_KEY_BYTES = 32
_MAX_MANIFEST_BYTES = 64 << 20

_metadata = sa.MetaData()
events_table = sa.Table(
    "audit_events",
    _metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(200), nullable=False),
    sa.Column("object", sa.Text, nullable=False),
    sa.Column("decision", sa.String(40), nullable=False),
    sa.Column("counts", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False),
)
# One row: the sequence number and hash of the newest entry. Appends lock it, which also
# serialises concurrent writers (worker processes, several CLI runs) on both backends.
head_table = sa.Table(
    "audit_head",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False),
)


class AuditLogUnavailable(CorpusforgeError):
    """The audit database cannot be opened or read (corrupt file, server unreachable)."""


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    ts: str
    actor: str
    action: str
    object: str
    decision: str
    counts: dict[str, Any]
    details: dict[str, Any]
    prev_hash: str
    entry_hash: str

    def body(self) -> dict[str, Any]:
        """The hashed fields."""
        return {
            "seq": self.seq,
            "ts": self.ts,
            "actor": self.actor,
            "action": self.action,
            "object": self.object,
            "decision": self.decision,
            "counts": self.counts,
            "details": self.details,
            "prev_hash": self.prev_hash,
        }


def entry_hash(body: Mapping[str, Any]) -> str:
    """The legacy, unkeyed entry hash (entries written before keyed chaining)."""
    return hashlib.sha256(canonical_json(dict(body)).encode()).hexdigest()


# -- the audit key ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditKey:
    """The HMAC key of the chain, the witness and the anchors. Never logged, never shown."""

    key: bytes = field(repr=False)
    source: str  # "env" or the key file's path

    @property
    def key_id(self) -> str:
        return "a-" + hmac.new(self.key, b"corpusforge audit key id", "sha256").hexdigest()[:16]

    def mac(self, *parts: str) -> str:
        return hmac.new(self.key, "\0".join(parts).encode(), "sha256").hexdigest()

    def entry_hash(self, body: Mapping[str, Any]) -> str:
        return self.mac("entry", canonical_json(dict(body)))

    def check(self, given: Any, *parts: str) -> bool:
        return isinstance(given, str) and hmac.compare_digest(self.mac(*parts), given)


def _decode_key(text: str, where: str) -> bytes:
    return decode_base64_key(text, where, _KEY_BYTES)


def load_audit_key(keys_dir: Path, *, create: bool = False) -> AuditKey | None:
    """`CORPUSFORGE_AUDIT_KEY`, else `keys_dir/audit.key` (created 0600 when `create`)."""
    env = os.environ.get(ENV_AUDIT_KEY)
    if env:
        return AuditKey(_decode_key(env, ENV_AUDIT_KEY), "env")
    path = keys_dir / AUDIT_KEY_FILE
    if not path.exists():
        if not create:
            return None
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = keys_dir / f".{AUDIT_KEY_FILE}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode() + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # create-if-absent: a concurrent first append keeps one key
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"audit key file {path} is readable by others (mode {mode:o}); chmod 600")
    return AuditKey(_decode_key(path.read_text(), f"audit key file {path}"), str(path))


# -- identifiers that may be personal data ---------------------------------------------------
_CORPUS_ID = re.compile(r"^[a-z]+-[0-9a-f]{20}$")  # corpusforge.pipeline.ingest.stage.document_id
_LOOKS_PERSONAL = re.compile(
    r"@|\s|\d{6,}|\d{3}[-. )]\d{3}|\b\d{1,3}(\.\d{1,3}){3}\b|[A-Z]{2}\d{2}[A-Z0-9]{10,}"
)


def looks_personal(value: str) -> bool:
    """True for an identifier that may be (or contain) personal data: an e-mail address, a
    name with spaces, a phone or account number, an IP address. Conservative: a corpus id
    made by ingest (`web-<hex>`) is not; most other free-form ids with digits are."""
    return not _CORPUS_ID.match(value) and bool(_LOOKS_PERSONAL.search(value))


# -- anchors ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Anchor:
    where: str
    seq: int
    hash: str
    key_id: str | None
    mac: str | None
    log: str | None = None  # which log: "ws" for the workspace's own (see AuditLog.log_id)
    start: bool = False  # the witness's first line: the end of the legacy (unkeyed) segment

    def authentic(self, key: AuditKey | None) -> bool:
        kind = "start" if self.start else "anchor"
        parts = (kind, str(self.log), str(self.seq), self.hash)
        return key is not None and key.check(self.mac, *parts)


def _anchor_from(value: Any, where: str) -> Anchor | None:
    if not isinstance(value, Mapping):
        return None
    seq, digest = value.get("seq"), value.get("hash")
    if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(digest, str):
        return None
    key_id, mac, log = value.get("key_id"), value.get("mac"), value.get("log")
    return Anchor(
        where,
        seq,
        digest,
        key_id if isinstance(key_id, str) else None,
        mac if isinstance(mac, str) else None,
        log if isinstance(log, str) else None,
        bool(value.get("start")),
    )


def read_manifest_anchor(path: Path) -> Anchor | None:
    """The `audit_head` recorded in a stage manifest or a sealed checkpoint manifest."""
    try:
        if path.is_symlink() or path.stat().st_size > _MAX_MANIFEST_BYTES:
            return None
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(value, dict):
        return None
    head = value.get("audit_head")
    if head is None and isinstance(value.get("body"), dict):  # sealed checkpoint manifest
        head = value["body"].get("audit_head")
    return _anchor_from(head, str(path))


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    head_hash: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    keyed: int = 0
    legacy: int = 0
    anchors: dict[str, int] = field(default_factory=dict)  # source -> anchors checked


def default_actor() -> str:
    return os.environ.get("CORPUSFORGE_ACTOR") or f"user:{getpass.getuser()}"


def _check_scalar_tree(value: Any, where: str) -> None:
    """Counts and details are small, structured values: ids, hashes, numbers, short labels."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_scalar_tree(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_scalar_tree(v, f"{where}[{i}]")
    elif isinstance(value, str):
        if len(value) > 2000:
            raise ValueError(f"audit field {where} is too long for an id or label")
    elif value is not None and not isinstance(value, bool | int | float):
        raise ValueError(f"audit field {where} has unsupported type {type(value).__name__}")


def _sqlite_file(url: str) -> Path | None:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database).expanduser().resolve()


def _default_home(url: str) -> Path:
    """Where the key and the witness live when no workspace is given: the active workspace
    for its own log, else the folder of a SQLite database (the workspace, in the default
    layout), else the active workspace."""
    active = Workspace.resolve()
    db = _sqlite_file(url)
    if url == active.audit_url or db is None:
        return active.root
    return db.parent


def safe_url(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(unparsable URL)"


class AuditLog:
    """The audit log behind a SQLAlchemy URL; its key and witness live in `home`, the
    workspace (default: the active one): `home/keys/audit.key`, `home/audit.witness`.

    A workspace has one log, its `audit_url`; a log at any other URL (tests, tools) gets its
    own witness, `home/audit-<url hash>.witness`, and anchors naming it."""

    def __init__(self, url: str, *, home: str | Path | None = None, create: bool = True):
        self.url = url
        self.home = Path(home).resolve() if home is not None else _default_home(url)
        self.keys_dir = self.home / "keys"
        self._sqlite_path = _sqlite_file(url)
        if url == Workspace(self.home).audit_url:
            self.log_id = "ws"
        else:
            self.log_id = hashlib.sha256(safe_url(url).encode()).hexdigest()[:12]
        stem = "audit" if self.log_id == "ws" else f"audit-{self.log_id}"
        self.witness_path = self.home / f"{stem}{WITNESS_SUFFIX}"
        self._key: AuditKey | None = None
        try:
            self.engine = sa.create_engine(url, future=True)
        except Exception as exc:  # bad URL or missing driver
            raise ConfigError(f"cannot open audit log database: {type(exc).__name__}") from exc
        if self.engine.dialect.name == "sqlite":
            self._configure_sqlite()
        self._schema_ready = False
        if create:
            self._ensure_schema()

    @classmethod
    def for_workspace(cls, ws: Any, *, create: bool = True) -> AuditLog:
        """The log of a `Workspace`, with its key and witness in the workspace."""
        return cls(ws.audit_url, home=ws.root, create=create)

    # -- database access ------------------------------------------------------------------
    @contextlib.contextmanager
    def _db(self, doing: str) -> Iterator[None]:
        """Turn driver errors into one line that names the database, never its password."""
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None) or exc
            first = (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]
            password = sa.engine.make_url(self.url).password if "://" in self.url else None
            if password:
                first = first.replace(str(password), "***")
            if self._sqlite_path is not None and isinstance(exc, sa.exc.DatabaseError):
                why = f"the file is corrupt or not a SQLite database ({first})"
            elif isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
                why = f"cannot reach the database ({first})"
            else:
                why = f"database error ({first})"
            raise AuditLogUnavailable(f"audit log {safe_url(self.url)}: {doing}: {why}") from exc

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        if self._sqlite_path is not None:
            # Owner-only (0600) from creation; SQLite gives its -wal and -shm files the same
            # mode. O_EXCL: never open a live database (that would drop its POSIX locks).
            self._sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self._sqlite_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            with contextlib.suppress(OSError):
                os.chmod(self._sqlite_path, 0o600)
        with self._db("opening"):
            _metadata.create_all(self.engine)
        self._schema_ready = True

    def _has_tables(self) -> bool:
        if self._schema_ready:
            return True
        if self._sqlite_path is not None and not self._sqlite_path.exists():
            return False
        with self._db("opening"), self.engine.connect() as conn:
            inspector = sa.inspect(conn)
            return all(inspector.has_table(t.name) for t in (events_table, head_table))

    def _configure_sqlite(self) -> None:
        @sa.event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            dbapi_conn.execute("PRAGMA busy_timeout = 30000")
            dbapi_conn.execute("PRAGMA journal_mode = WAL")

        @sa.event.listens_for(self.engine, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    def key(self, *, create: bool = False) -> AuditKey | None:
        if self._key is None:
            self._key = load_audit_key(self.keys_dir, create=create)
        return self._key

    # -- writing --------------------------------------------------------------------------
    def append(
        self,
        action: str,
        object: str,
        *,
        actor: str | None = None,
        decision: str = "ok",
        counts: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        entry = {"action": action, "object": object, "decision": decision}
        return self.append_many([{**entry, "actor": actor, "counts": counts, "details": details}])[
            0
        ]

    def append_many(self, entries: Sequence[Mapping[str, Any]]) -> list[AuditEvent]:
        """Append entries (dicts of `append`'s arguments) in order, in one transaction: a
        stage's per-file or per-shard records cost one commit, not one each. Then anchor the
        new head in the witness file."""
        prepared = []
        for e in entries:
            counts, details = dict(e.get("counts") or {}), dict(e.get("details") or {})
            _check_scalar_tree(counts, "counts")
            _check_scalar_tree(details, "details")
            # Normalise through JSON so what we hash is exactly what we read back.
            counts, details = (json.loads(canonical_json(v)) for v in (counts, details))
            prepared.append((e, counts, details))
        if not prepared:
            return []
        self._ensure_schema()
        key = self.key(create=True)
        assert key is not None
        appended = []
        with self._db("appending"), self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execute(sa.text("LOCK TABLE audit_head IN EXCLUSIVE MODE"))
            head = conn.execute(sa.select(head_table).where(head_table.c.id == 1)).first()
            seq, prev = (head.seq, head.entry_hash) if head else (0, GENESIS_HASH)
            before = (seq, prev)
            for e, counts, details in prepared:
                seq += 1
                event = AuditEvent(
                    seq=seq,
                    ts=datetime.now(UTC).isoformat(timespec="microseconds"),
                    actor=e.get("actor") or default_actor(),
                    action=e["action"],
                    object=e["object"],
                    decision=e.get("decision") or "ok",
                    counts=counts,
                    details=details,
                    prev_hash=prev,
                    entry_hash="",
                )
                digest = key.entry_hash(event.body())
                appended.append(AuditEvent(**{**event.__dict__, "entry_hash": digest}))
                prev = digest
            conn.execute(
                events_table.insert(),
                [
                    {
                        **ev.body(),
                        "entry_hash": ev.entry_hash,
                        "counts": canonical_json(ev.counts),
                        "details": canonical_json(ev.details),
                    }
                    for ev in appended
                ],
            )
            if head:
                conn.execute(
                    head_table.update().where(head_table.c.id == 1).values(seq=seq, entry_hash=prev)
                )
            else:
                conn.execute(head_table.insert().values(id=1, seq=seq, entry_hash=prev))
        # After the commit: a crash in between leaves the witness behind the log, never ahead.
        lines = []
        if not self.witness_path.exists():  # first keyed append: pin the legacy segment
            lines.append(self._witness_line(key, *before, start=True))
        lines.append(self._witness_line(key, seq, prev))
        self._witness_append(lines)
        return appended

    def _sealed_anchor(self, key: AuditKey, seq: int, digest: str, start: bool = False) -> dict:
        kind = "start" if start else "anchor"
        sealed: dict[str, Any] = {
            "log": self.log_id,
            "seq": seq,
            "hash": digest,
            "key_id": key.key_id,
            "mac": key.mac(kind, self.log_id, str(seq), digest),
        }
        if start:
            sealed["start"] = True
        return sealed

    def _witness_line(self, key: AuditKey, seq: int, digest: str, start: bool = False) -> str:
        return canonical_json(self._sealed_anchor(key, seq, digest, start))

    def _witness_append(self, lines: list[str]) -> None:
        """Append-only, owner-only, one write per batch (atomic for small writes)."""
        self.witness_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.witness_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, "".join(line + "\n" for line in lines).encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def anchor(self) -> dict[str, Any] | None:
        """The current head, sealed with the audit key, to record outside the database (stage
        and checkpoint manifests). None for an empty or not yet keyed log."""
        key = self.key()
        if key is None:
            return None
        seq, digest = self.head()
        if not seq:
            return None
        return self._sealed_anchor(key, seq, digest)

    # -- reading --------------------------------------------------------------------------
    def events(
        self, action_prefix: str | None = None, object_prefix: str | None = None
    ) -> Iterator[AuditEvent]:
        if not self._has_tables():
            return
        stmt = sa.select(events_table).order_by(events_table.c.seq)
        if action_prefix:
            stmt = stmt.where(events_table.c.action.startswith(action_prefix))
        if object_prefix:
            stmt = stmt.where(events_table.c.object.startswith(object_prefix))
        with self._db("reading"), self.engine.connect() as conn:
            rows = conn.execute(stmt).fetchall()
        for row in rows:
            yield _row_to_event(row)

    def latest(self, action: str) -> AuditEvent | None:
        """The newest entry of `action`, or None."""
        if not self._has_tables():
            return None
        stmt = (
            sa.select(events_table)
            .where(events_table.c.action == action)
            .order_by(events_table.c.seq.desc())
            .limit(1)
        )
        with self._db("reading"), self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return _row_to_event(row) if row is not None else None

    def is_authentic(self, event: AuditEvent) -> bool:
        """The entry's hash is a keyed hash of its content (written by a key holder)."""
        key = self.key()
        return key is not None and hmac.compare_digest(
            key.entry_hash(event.body()), event.entry_hash
        )

    def head(self) -> tuple[int, str]:
        if not self._has_tables():
            return (0, GENESIS_HASH)
        with self._db("reading"), self.engine.connect() as conn:
            row = conn.execute(sa.select(head_table).where(head_table.c.id == 1)).first()
        return (row.seq, row.entry_hash) if row else (0, GENESIS_HASH)

    def keyed_id(self, value: str) -> str:
        """A keyed hash of an identifier: the same value gives the same hash (requests stay
        comparable), and without the audit key it cannot be guessed from a list of names."""
        key = self.key(create=True)
        assert key is not None
        return "hmac:" + key.mac("identifier", value)[:32]

    def recorded_id(self, value: str) -> str:
        """An identifier as the audit log may hold it: as is, or as `keyed_id` when it looks
        like personal data."""
        return self.keyed_id(value) if looks_personal(value) else value

    # -- verification ---------------------------------------------------------------------
    def witness_anchors(self) -> tuple[list[Anchor], list[str]]:
        """The witness file's anchors, and the lines that are not anchors."""
        anchors, bad = [], []
        try:
            text = self.witness_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return [], []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                anchor = _anchor_from(json.loads(line), f"{self.witness_path.name} line {n}")
            except ValueError:
                anchor = None
            if anchor is None:
                bad.append(f"{self.witness_path.name} line {n}")
            else:
                anchors.append(anchor)
        return anchors, bad

    def manifest_anchors(self, dirs: Sequence[str | Path] = ()) -> list[Anchor]:
        """Heads recorded in stage manifests (the workspace's runs and `dirs`) and in the
        checkpoint manifests of the workspace's local store."""
        paths: dict[Path, None] = {}
        for root, name in (
            (self.home / "runs", "manifest.json"),
            (self.home / "store", "@manifest.json"),
        ):
            if root.is_dir():
                paths.update(dict.fromkeys(root.rglob(name)))
        for d in dirs:
            p = Path(d) / "manifest.json"
            if p.is_file():
                paths[p] = None
        found = []
        for p in paths:
            anchor = read_manifest_anchor(p)
            if anchor is not None:
                with contextlib.suppress(ValueError):
                    anchor = replace(anchor, where=str(p.relative_to(self.home)))
                found.append(anchor)
        return found

    def verify(self, extra_anchors: Sequence[Anchor] = ()) -> VerifyResult:
        """Walk the chain, resynchronising on each entry's recorded link, name every edited,
        deleted, inserted or reordered entry, and check the head against every anchor."""
        return _Verifier(self, list(extra_anchors)).run()


def _ranges(seqs: Sequence[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def _listed(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


class _Verifier:
    """One verification pass (see `AuditLog.verify`)."""

    def __init__(self, log: AuditLog, extra: list[Anchor]):
        self.log = log
        self.extra = extra
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def _result(self, entries: int, head_hash: str = GENESIS_HASH, **kw: Any) -> VerifyResult:
        return VerifyResult(
            ok=not self.problems,
            entries=entries,
            head_hash=head_hash,
            problems=self.problems,
            warnings=self.warnings,
            **kw,
        )

    def _load(self) -> tuple[bool, list[Any], Any]:
        log = self.log
        if not log._has_tables():
            return False, [], None
        with log._db("reading"), log.engine.connect() as conn:
            rows = conn.execute(sa.select(events_table).order_by(events_table.c.seq)).fetchall()
            head = conn.execute(sa.select(head_table).where(head_table.c.id == 1)).first()
        return True, rows, head

    def run(self) -> VerifyResult:
        log, problems = self.log, self.problems
        has_tables, rows, head_row = self._load()
        key = log.key()
        witness, bad_lines = log.witness_anchors()
        dirs = sorted({r.object[4:] for r in rows if str(r.object).startswith("dir:")})
        manifests = log.manifest_anchors(dirs)
        # Anchors of other logs or other workspaces' keys (shared output folders) are not ours.
        key_id = key.key_id if key is not None else None
        manifests = [a for a in manifests if a.log == log.log_id and a.key_id == key_id]
        problems += [
            f"{a.where}: anchors another log (copied in)" for a in witness if a.log != log.log_id
        ]
        witness = [a for a in witness if a.log == log.log_id]
        anchors = [*witness, *manifests, *self.extra]
        counted = {"witness": len(witness), "manifests": len(manifests), "other": len(self.extra)}
        problems += [f"{b}: not a witness record (edited)" for b in bad_lines]

        if key is None:
            if anchors or bad_lines:
                problems.append(
                    "the audit key is missing (keys/audit.key, or CORPUSFORGE_AUDIT_KEY) while "
                    "the witness or manifests hold keyed anchors: the log cannot be verified "
                    "(key deleted or the wrong workspace)"
                )
                return self._result(len(rows), anchors=counted)
        else:
            ours = [a for a in anchors if a.key_id == key.key_id]
            others = sorted({a.key_id for a in anchors if a.key_id and a.key_id != key.key_id})
            if others and not ours:
                problems.append(
                    f"the configured audit key ({key.key_id}) is not the key this log's anchors "
                    f"were made with ({', '.join(others)}): wrong CORPUSFORGE_AUDIT_KEY or "
                    "keys/audit.key replaced"
                )
                return self._result(len(rows), anchors=counted)
            forged = [a for a in anchors if not a.authentic(key)]
            for a in forged:
                problems.append(f"{a.where}: anchor of entry {a.seq} is not authentic (forged)")
            anchors = [a for a in anchors if a.authentic(key)]

        if not has_tables and anchors:
            problems.append(
                "the audit tables are missing (database deleted or tables dropped)"
                if log._sqlite_path is None or log._sqlite_path.exists()
                else f"the audit database {log._sqlite_path.name} is missing (deleted)"
            )

        # 1. Which rows are authentic, and which entry (true sequence number) each one is.
        events: list[AuditEvent | None] = []
        for row in rows:
            try:
                events.append(_row_to_event(row))
            except ValueError:
                events.append(None)
        found: list[tuple[str, int] | None] = [None] * len(rows)
        known = {GENESIS_HASH: 0}

        def identify(ev: AuditEvent) -> tuple[str, int] | None:
            candidates = [ev.seq]
            if ev.prev_hash in known:  # resynchronise on the recorded link
                candidates.append(known[ev.prev_hash] + 1)
            for t in dict.fromkeys(candidates):
                body = {**ev.body(), "seq": t}
                if key is not None and hmac.compare_digest(key.entry_hash(body), ev.entry_hash):
                    return "keyed", t
                if entry_hash(body) == ev.entry_hash:
                    return "legacy", t
            return None

        progress = True
        while progress:
            progress = False
            for i, ev in enumerate(events):
                if ev is not None and found[i] is None and (hit := identify(ev)) is not None:
                    found[i] = hit
                    known.setdefault(ev.entry_hash, hit[1])
                    progress = True

        unknown = sum(1 for f in found if f is None)
        if key is None and unknown * 2 > len(rows):  # a keyed log without its key
            problems.append(
                f"{unknown} of {len(rows)} entries cannot be verified: the audit key is missing "
                "(keys/audit.key, or CORPUSFORGE_AUDIT_KEY)"
            )
            return self._result(len(rows), anchors=counted)

        # 2. Legacy (unkeyed) entries are accepted only before keyed chaining began.
        starts = [a.seq for a in anchors if a.start]
        keyed_seqs = [f[1] for f in found if f and f[0] == "keyed"]
        if key is None:
            legacy_limit: float = math.inf
        elif starts:
            legacy_limit = min(starts)
        else:
            legacy_limit = min(keyed_seqs, default=math.inf) - 1
            if keyed_seqs and not log.witness_path.exists():
                problems.append(
                    f"the witness file {log.witness_path.name} is missing (deleted): "
                    "the head is anchored only by manifests"
                )
        unkeyed_after = set()
        for i, f in enumerate(found):
            if f and f[0] == "legacy" and f[1] > legacy_limit:
                unkeyed_after.add(i)
                found[i] = None

        # 3. Order, duplicates, gaps.
        authentic = [(i, f[1]) for i, f in enumerate(found) if f]
        by_seq: dict[int, int] = {}
        for i, t in authentic:
            if t in by_seq:
                problems.append(
                    f"entry {t}: a second copy at seq {rows[i].seq} (inserted duplicate)"
                )
                found[i] = None
            else:
                by_seq[t] = i
        authentic = [(i, f[1]) for i, f in enumerate(found) if f]
        order = [t for _, t in authentic]
        moved = [
            f"entry {t} at seq {rows[i].seq}"
            for (i, t), s in zip(authentic, sorted(order), strict=True)
            if t != s
        ]
        if moved:
            problems.append(f"entries stored out of order (reordered): {_listed(moved)}")
        for i, t in authentic:
            ev = events[i]
            prev_i = by_seq.get(t - 1)
            expected = (
                GENESIS_HASH
                if t == 1
                else (rows[prev_i].entry_hash if prev_i is not None else None)
            )
            if ev is not None and expected is not None and ev.prev_hash != expected:
                problems.append(f"entry {t}: does not follow entry {t - 1} (chain broken)")

        last = max(by_seq, default=0)
        head_hash = rows[by_seq[last]].entry_hash if last else GENESIS_HASH
        anchored = max((a.seq for a in anchors), default=0)
        db_head = head_row.seq if head_row is not None else 0
        end = max(last, anchored)  # not the head row: it is in the database too
        missing = set(range(1, end + 1)) - set(by_seq)

        # 4. Rows that are no entry: edited in place (they fill a gap) or inserted.
        foreign = [i for i, f in enumerate(found) if f is None]
        segments: dict[tuple[int, int], list[int]] = {}
        prev_t = 0
        pending: list[int] = []
        for i, f in enumerate(found):
            if f is None:
                pending.append(i)
                continue
            if pending:
                segments[(prev_t, f[1])] = pending
                pending = []
            prev_t = max(prev_t, f[1])
        if pending:
            segments[(prev_t, end + 1)] = pending
        edited, inserted = [], []
        for (lo, hi), idx in segments.items():
            gap = sorted(s for s in missing if lo < s < hi)
            for i, s in zip(idx, gap, strict=False):
                edited.append((s, i))
                missing.discard(s)
            inserted += idx[len(gap) :]
        for s, i in sorted(edited):
            why = (
                "rewritten without the audit key (a plain SHA-256 hash)"
                if i in unkeyed_after
                else "content does not match its hash (edited)"
                if events[i] is not None
                else "unreadable counts/details (edited)"
            )
            problems.append(f"entry {s}: {why}")
        for i in inserted:
            problems.append(
                f"row at seq {rows[i].seq}: not an entry written with the audit key (inserted)"
            )
        assert len(edited) + len(inserted) == len(foreign)

        # 5. Gaps: deleted in the middle, or cut from the end (caught by the anchors).
        for lo, hi in _ranges([s for s in missing if s <= last]):
            problems.append(f"entries {lo}..{hi} are missing (deleted)")
        tail = sorted(s for s in missing if s > last)
        if tail:
            top = max(anchors, key=lambda a: a.seq) if anchors else None
            if top is not None and top.seq >= tail[0]:
                if not rows:
                    problems.append(
                        f"the log is empty (database deleted, emptied or replaced) but "
                        f"{top.where} anchors entry {top.seq}"
                    )
                else:
                    problems.append(
                        f"entries {tail[0]}..{top.seq} were removed from the end (truncated; "
                        f"{top.where} anchors entry {top.seq})"
                    )
        if head_row is not None and rows and (db_head != last or head_row.entry_hash != head_hash):
            problems.append(
                f"the log ends at entry {last} but the head records entry {db_head}"
                " (entries removed from the end, or the head was altered)"
            )
        elif head_row is not None and not rows and db_head:
            problems.append(f"the log is empty but the head records entry {db_head}")

        # 6. Every anchor must match the entry it names.
        mismatched = [
            a
            for a in anchors
            if a.seq in by_seq
            and rows[by_seq[a.seq]].entry_hash != a.hash
            or a.start
            and a.seq == 0
            and a.hash != GENESIS_HASH
        ]
        if mismatched:
            problems.append(
                f"{len(mismatched)} anchors do not match the log (rewritten entries): "
                + _listed([f"entry {a.seq} in {a.where}" for a in mismatched], 3)
            )

        legacy = sum(1 for f in found if f and f[0] == "legacy")
        if legacy:
            self.warnings.append(
                f"{legacy} entries were written before keyed chaining (plain SHA-256): "
                + (
                    "their end is pinned by the witness"
                    if starts
                    else "not protected against a rewrite by someone with database access"
                )
            )
        return self._result(
            len(rows),
            head_hash,
            keyed=sum(1 for f in found if f and f[0] == "keyed"),
            legacy=legacy,
            anchors=counted,
        )


def _row_to_event(row: Any) -> AuditEvent:
    try:
        counts = json.loads(row.counts)
        details = json.loads(row.details)
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError("corrupt audit entry") from exc
    return AuditEvent(
        seq=row.seq,
        ts=row.ts,
        actor=row.actor,
        action=row.action,
        object=row.object,
        decision=row.decision,
        counts=counts,
        details=details,
        prev_hash=row.prev_hash,
        entry_hash=row.entry_hash,
    )


_OPEN: dict[str, AuditLog] = {}
_OPEN_LOCK = threading.Lock()


def open_audit_log(url: str | None = None) -> AuditLog:
    """The audit log of the active workspace (or `url`), one per URL and process: a new
    engine (connection, schema check) for every entry cost more than the entry."""
    if url is None:
        url = Workspace.resolve().audit_url
    key = f"{os.getpid()}:{url}"  # a forked child must not share its parent's connections
    with _OPEN_LOCK:
        if key not in _OPEN:
            _OPEN[key] = AuditLog(url)
        return _OPEN[key]


def current_anchor() -> dict[str, Any] | None:
    """The sealed head of the active workspace's audit log, for a stage manifest; None when
    there is no log yet (nothing is created) or it cannot be read (the stage's own audit
    entry will fail loudly then)."""
    url = Workspace.resolve().audit_url
    db = _sqlite_file(url)
    if db is not None and not db.exists():
        return None
    try:
        return open_audit_log(url).anchor()
    except CorpusforgeError:
        return None
