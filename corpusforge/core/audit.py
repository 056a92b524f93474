"""Append-only, hash-chained audit log (SQLite by default, PostgreSQL by URL).

Each entry stores the hash of the previous entry; its own hash covers every field plus that
link. Editing a field breaks the entry's hash, deleting or reordering entries breaks the
sequence or the chain, and truncating the tail is caught against the separately kept head
(sequence number and hash of the last entry). Entries hold ids, hashes and counts: callers
must never pass document text or PII values.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from corpusforge.core.errors import ConfigError
from corpusforge.core.hashing import canonical_json
from corpusforge.core.workspace import Workspace

GENESIS_HASH = "0" * 64

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
    return hashlib.sha256(canonical_json(dict(body)).encode()).hexdigest()


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    head_hash: str
    problems: list[str] = field(default_factory=list)


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


class AuditLog:
    """The audit log behind a SQLAlchemy URL."""

    def __init__(self, url: str):
        self.url = url
        try:
            self.engine = sa.create_engine(url, future=True)
        except Exception as exc:  # bad URL or missing driver
            raise ConfigError(f"cannot open audit log database: {type(exc).__name__}") from exc
        if self.engine.dialect.name == "sqlite":
            self._configure_sqlite()
            db = self.engine.url.database or ":memory:"
            if db != ":memory:" and not db.startswith("file:"):  # owner only (0600), WAL too
                with contextlib.suppress(OSError):  # O_EXCL: never open a live db (POSIX locks)
                    os.close(os.open(db, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                with contextlib.suppress(OSError):
                    os.chmod(db, 0o600)
        _metadata.create_all(self.engine)

    def _configure_sqlite(self) -> None:
        @sa.event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            dbapi_conn.execute("PRAGMA busy_timeout = 30000")
            dbapi_conn.execute("PRAGMA journal_mode = WAL")

        @sa.event.listens_for(self.engine, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

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
        stage's per-file or per-shard records cost one commit, not one each."""
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
        appended = []
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execute(sa.text("LOCK TABLE audit_head IN EXCLUSIVE MODE"))
            head = conn.execute(sa.select(head_table).where(head_table.c.id == 1)).first()
            seq, prev = (head.seq, head.entry_hash) if head else (0, GENESIS_HASH)
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
                digest = entry_hash(event.body())
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
        return appended

    def events(
        self, action_prefix: str | None = None, object_prefix: str | None = None
    ) -> Iterator[AuditEvent]:
        stmt = sa.select(events_table).order_by(events_table.c.seq)
        if action_prefix:
            stmt = stmt.where(events_table.c.action.startswith(action_prefix))
        if object_prefix:
            stmt = stmt.where(events_table.c.object.startswith(object_prefix))
        with self.engine.connect() as conn:
            for row in conn.execute(stmt):
                yield _row_to_event(row)

    def head(self) -> tuple[int, str]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(head_table).where(head_table.c.id == 1)).first()
        return (row.seq, row.entry_hash) if row else (0, GENESIS_HASH)

    def verify(self) -> VerifyResult:
        """Walk the chain and name every edited, deleted, inserted or reordered entry."""
        problems: list[str] = []
        expected_seq, prev = 1, GENESIS_HASH
        count = 0
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(events_table).order_by(events_table.c.seq))
            for row in rows:
                count += 1
                try:
                    event = _row_to_event(row)
                except ValueError:
                    problems.append(f"entry {row.seq}: unreadable counts/details (edited)")
                    prev, expected_seq = row.entry_hash, row.seq + 1
                    continue
                if event.seq != expected_seq:
                    problems.append(
                        f"entries {expected_seq}..{event.seq - 1} are missing (deleted)"
                        if event.seq > expected_seq
                        else f"entry {event.seq}: out of sequence"
                    )
                if entry_hash(event.body()) != event.entry_hash:
                    problems.append(f"entry {event.seq}: content does not match its hash (edited)")
                elif event.prev_hash != prev:
                    problems.append(
                        f"entry {event.seq}: does not follow the previous entry "
                        "(deleted, inserted or reordered entries before it)"
                    )
                prev, expected_seq = event.entry_hash, event.seq + 1
        head_seq, head_hash = self.head()
        if count and (head_seq != expected_seq - 1 or head_hash != prev):
            problems.append(
                f"the log ends at entry {expected_seq - 1} but the head records entry {head_seq}"
                " (entries removed from the end, or the head was altered)"
            )
        elif not count and head_seq:
            problems.append(f"the log is empty but the head records entry {head_seq}")
        return VerifyResult(ok=not problems, entries=count, head_hash=prev, problems=problems)


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
