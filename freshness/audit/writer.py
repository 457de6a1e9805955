"""Writing one audit record in the retrieval's own transaction, chained to the previous one."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Set
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

import msgspec
from sqlalchemy import JSON, Connection, Dialect, Engine, Insert, String, Table, Text, bindparam, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, sessionmaker

from freshness.audit.chain import chained_hash
from freshness.audit.record import RecordInput, RejectedEntry, ServedEntry
from freshness.hashing import canonical_json, sha256_text
from freshness.models import AuditChainHead, Retrieval, RetrievalChunk
from freshness.refresh.reach import redact_uri


def build_content(record: RecordInput) -> dict[str, Any]:
    """The record as served: JSON-ready, with provenance of every source and snapshot involved.

    Its shape is what every stored record was hashed over: keys and values may not change."""
    # mypy joins the two element types to Struct; the list holds exactly these two kinds
    both = cast(list[ServedEntry | RejectedEntry], [*record.served, *record.rejected])
    entries = {entry.snapshot.id: entry for entry in both}
    sources = {}
    snapshots = {}
    for snapshot_id in sorted(entries):
        src, snap = entries[snapshot_id].source, entries[snapshot_id].snapshot
        sources[src.id] = {"title": src.title, "owner": src.owner, "uri": redact_uri(src.uri),
                           "source_class": src.source_class}
        snapshots[snap.id] = {
            "source_id": src.id,
            "version": snap.version,
            "captured_at": msgspec.to_builtins(snap.captured_at),
            "verified_at": msgspec.to_builtins(snap.verified_at),
            "valid_until": msgspec.to_builtins(snap.valid_until),
            "content_hash": snap.content_hash,
        }
    # The max age each served chunk was judged against is kept with it, so that `verify` can hold the
    # chunk rows' max_age_seconds to the hashed content as it does every other column.
    results = [{
        "rank": c.rank,
        "chunk_id": c.chunk_id,
        "text": c.text,
        "score": c.score,
        "source_id": c.source.id,
        "source_class": c.source.source_class,
        "snapshot_id": c.snapshot.id,
        "snapshot_version": c.snapshot.version,
        "document_id": c.document_id,
        "uri": c.uri,
        "captured_at": msgspec.to_builtins(c.snapshot.captured_at),
        "verified_at": msgspec.to_builtins(c.snapshot.verified_at),
        "age_seconds": c.age_seconds,
        "freshness": c.freshness,
        "content_hash": c.content_hash,
        "max_age_seconds": c.max_age_seconds,
    } for c in record.served]
    rejected = [{
        "chunk_id": c.chunk_id,
        "source_id": c.source.id,
        "snapshot_id": c.snapshot.id,
        "reason": c.reason,
        "age_seconds": c.age_seconds,
        "max_age_seconds": c.max_age_seconds,
    } for c in record.rejected]
    return {
        "request_id": record.request_id,
        "served_at": msgspec.to_builtins(record.served_at),
        "status": record.status,
        "task_class": record.task_class,
        "criticality": record.criticality,
        "policy_version": record.policy_version,
        "principal": msgspec.to_builtins(record.principal),
        "query": None if record.hash_query_text else record.query,
        "query_sha256": sha256_text(record.query),
        "filters": msgspec.to_builtins(record.filters) if record.filters is not None else {},
        "top_k": record.top_k,
        "vector_given": record.vector_given,
        "latency_ms": record.latency_ms,
        "results": results,
        "rejected": rejected,
        "sources": sources,
        "snapshots": snapshots,
    }


# Core statements built once and run on the session's connection; the ORM unit of work, and the ORM's
# handling of each execution, cost more than the rows they write.
_HEAD = cast(Table, AuditChainHead.__table__)
LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.last_hash).where(_HEAD.c.id == 1).with_for_update()
"""The chain head, locked until the transaction ends: every writer of records takes it, last of its locks."""
_RECORDS = cast(Table, Retrieval.__table__)
_CHUNKS = cast(Table, RetrievalChunk.__table__)
_INSERT_CHUNKS = _CHUNKS.insert()
_MOVE_HEAD = _HEAD.update().where(_HEAD.c.id == 1).values(seq=bindparam("new_seq"), last_hash=bindparam("new_hash"))
_RECORD_COLUMNS = ("request_id", "seq", "served_at", "task_class", "status", "policy_version", "key_id", "content",
                   "prev_hash", "record_hash")
_CHUNK_COLUMNS = ("request_id", "seq", "kind", "rank", "chunk_id", "source_id", "snapshot_id", "freshness",
                  "source_class", "age_seconds", "max_age_seconds", "score")

ChainHead = tuple[int, str]
"""The chain head as locked: the last record's seq and hash."""


def lock_head(conn: Connection) -> ChainHead:
    """Lock the chain head (until the transaction ends) and read it."""
    head = conn.execute(LOCK_HEAD).first()
    if head is None:
        raise RuntimeError("the audit chain head is missing; run `freshness db upgrade`")
    return head.seq, head.last_hash


def write_record(session: Session | Connection, record: RecordInput) -> tuple[int, str]:
    """Append the record to the chain in the caller's transaction; returns its seq and hash."""
    return write_records(session, [record])[0]


def write_records(session: Session | Connection, records: list[RecordInput],
                  head: ChainHead | None = None) -> list[tuple[int, str]]:
    """Append the records to the chain, in order, in the caller's transaction; returns each one's seq and hash.

    `head`: the chain head as the caller's transaction locked it (`lock_head`, or a statement that locks it
    with other rows); locked here when not given. The head is locked and moved once, and the records and
    their chunk rows are written by one statement each (on PostgreSQL one statement for all three), however
    many records there are."""
    conn = session if isinstance(session, Connection) else session.connection()
    # Locking the head row serialises audit writes, so the chain stays linear across threads and replicas.
    seq, last = head if head is not None else lock_head(conn)
    rows: list[dict[str, Any]] = []
    chunk_rows: list[dict[str, Any]] = []
    written = []
    for record in records:
        content = canonical_json(build_content(record))
        seq, prev, last = seq + 1, last, chained_hash(last, content)
        rows.append({
            "request_id": record.request_id,
            "seq": seq,
            "served_at": record.served_at,
            "task_class": record.task_class,
            "status": record.status,
            "policy_version": record.policy_version,
            "key_id": record.principal.key_id,
            "content": content,
            "prev_hash": prev,
            "record_hash": last,
        })
        chunk_rows += _chunk_rows(record, seq)
        written.append((seq, last))
    if conn.dialect.name == "postgresql" and conn.dialect.paramstyle == "pyformat":
        # One round trip instead of three: each is a wait for the server while the head is locked.
        conn.exec_driver_sql(_APPEND_PG, _append_parameters(conn.dialect, rows, chunk_rows, seq, last))
        return written
    conn.execute(_insert_record(conn.dialect.name), rows)
    if chunk_rows:
        conn.execute(_INSERT_CHUNKS, chunk_rows)
    conn.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": last})
    return written


_PG_DIALECT = postgresql.dialect()


def _recordset(table: Table, columns: tuple[str, ...], parameter: str) -> str:
    """`SELECT ... FROM json_to_recordset(...)`: the rows given as one JSON array, each column read as its
    column's type without a length (a cast to VARCHAR(n) would cut a longer value short; the insert refuses it)."""
    types = ", ".join(f"{name} {_recordset_type(table, name)}" for name in columns)
    return f"SELECT {', '.join(columns)} FROM json_to_recordset(%({parameter})s::json) AS given({types})"


def _recordset_type(table: Table, name: str) -> str:
    column_type = table.c[name].type
    if isinstance(column_type, (JSON, String)):
        return "TEXT"  # JSON: the canonical text its hash covers, made JSON by a cast in the insert
    return re.sub(r"\(\d+\)", "", column_type.compile(_PG_DIALECT))


# The records, their chunk rows and the head's move in one statement. The rows go as one JSON parameter per
# table: the statement's text stays the same whatever the number of rows, so psycopg prepares it once, and one
# string costs the driver less to send than a parameter per value (or an array per column). The chunk rows'
# foreign key to their record is checked at the end of the statement, when the records are in. The content
# is the canonical JSON its hash covers, carried as a JSON string and stored as that text by a cast, as the
# single insert does (_insert_record).
_APPEND_PG = (
    f"WITH records AS (INSERT INTO {_RECORDS.name} ({', '.join(_RECORD_COLUMNS)})"
    f" SELECT {', '.join('content::json' if c == 'content' else c for c in _RECORD_COLUMNS)}"
    f" FROM ({_recordset(_RECORDS, _RECORD_COLUMNS, 'records')}) AS r),"
    f" chunks AS (INSERT INTO {_CHUNKS.name} ({', '.join(_CHUNK_COLUMNS)})"
    f" {_recordset(_CHUNKS, _CHUNK_COLUMNS, 'chunks')})"
    f" UPDATE {_HEAD.name} SET seq = %(new_seq)s, last_hash = %(new_hash)s WHERE id = 1"
)
_encode = msgspec.json.Encoder().encode


def _append_parameters(dialect: Dialect, rows: list[dict[str, Any]], chunk_rows: list[dict[str, Any]], seq: int,
                       last: str) -> dict[str, Any]:
    # json_to_recordset reads the columns the statement names and no other key: a key missing from them
    # would be dropped without a word, where the plain inserts would write it.
    for given, named in ((rows, _RECORD_COLUMNS), (chunk_rows, _CHUNK_COLUMNS)):
        if given and given[0].keys() != set(named):
            raise RuntimeError(f"audit rows carry {sorted(given[0])}, the append names {sorted(named)}")
    served_at = _RECORDS.c.served_at.type.bind_processor(dialect)  # the UTC check of UTCDateTime
    if served_at is not None:
        rows = [{**row, "served_at": served_at(row["served_at"])} for row in rows]
    return {"records": _encode(rows).decode(), "chunks": _encode(chunk_rows).decode(), "new_seq": seq,
            "new_hash": last}


@cache
def _insert_record(dialect: str) -> Insert:
    """The insert of records whose content is given as the canonical JSON their hash covers: serialised once,
    for the hash, and stored as it is rather than serialised again by the JSON column."""
    text = bindparam("content", type_=Text)
    # PostgreSQL takes the text as JSON by a cast; SQLite keeps JSON as text.
    content = sql_cast(text, JSON) if dialect == "postgresql" else text
    return _RECORDS.insert().values(content=content)


def _chunk_rows(record: RecordInput, seq: int) -> list[dict[str, Any]]:
    return [
        {"request_id": record.request_id, "seq": seq, "kind": "served", "rank": c.rank, "chunk_id": c.chunk_id,
         "source_id": c.source.id, "snapshot_id": c.snapshot.id, "freshness": c.freshness,
         "source_class": c.source.source_class,
         "age_seconds": c.age_seconds, "max_age_seconds": c.max_age_seconds, "score": c.score}
        for c in record.served
    ] + [
        {"request_id": record.request_id, "seq": seq, "kind": "rejected", "rank": None, "chunk_id": c.chunk_id,
         "source_id": c.source.id, "snapshot_id": c.snapshot.id, "freshness": c.reason,
         "source_class": c.source.source_class,
         "age_seconds": c.age_seconds, "max_age_seconds": c.max_age_seconds, "score": None}
        for c in record.rejected
    ]


class GroupCommit:
    """Audit records of concurrent retrievals appended in one transaction (group commit).

    A retrieval hands over its record and waits. The first waiter that finds no transaction in
    progress takes every record queued so far, writes them in order in one transaction and
    commits; then the next waiter leads the records that queued meanwhile. Each retrieval still
    answers only after its own record has committed. If the shared transaction fails, each of its
    records is tried again alone, so one bad record fails only its own retrieval.

    Before the first record, `still_active` is asked once about every snapshot the batch serves (on
    PostgreSQL it locks their sources), and it locks the chain head after those (on PostgreSQL in the
    same statement, one round trip): so the transaction takes all its source locks before the chain
    head, never one while holding the head, the order the locked retrieval takes them too.
    """

    def __init__(self, sessions: sessionmaker[Session],
                 still_active: Callable[[Connection, Set[str]], tuple[frozenset[str], ChainHead]]) -> None:
        # The group's transaction is a connection's, not a session's: it runs statements and no ORM, and the
        # session's bookkeeping cost more than a short transaction's begin and commit.
        self._engine: Engine = sessions.kw["bind"]
        self._still_active = still_active
        self._cond = threading.Condition()
        self._queue: list[PendingRecord] = []
        self._leading = False

    def submit(self, pending: PendingRecord) -> bool:
        """Write the record; False when a snapshot it used was no longer active (nothing written)."""
        with self._cond:
            self._queue.append(pending)
            while not pending.finished and self._leading:
                self._cond.wait()
            if not pending.finished:
                self._leading = True
                batch, self._queue = self._queue, []
        if not pending.finished:
            try:
                self._write(batch)
            finally:
                with self._cond:
                    for item in batch:
                        item.finished = True
                    self._leading = False
                    self._cond.notify_all()
        if pending.error is not None:
            raise pending.error
        return pending.written

    def _write(self, batch: list[PendingRecord]) -> None:
        try:
            self._write_together(batch)
        except BaseException as exc:  # noqa: BLE001 - retried one by one below
            if len(batch) == 1:
                batch[0].written, batch[0].error = False, exc
                return
            for item in batch:
                try:
                    self._write_together([item])
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting retrieval
                    item.written, item.error = False, exc

    def _write_together(self, batch: list[PendingRecord]) -> None:
        with self._engine.begin() as conn:  # commits, or rolls back on any error
            active, head = self._still_active(conn, set().union(*(item.snapshot_ids for item in batch)))
            for item in batch:
                item.written = item.snapshot_ids <= active
            records = [item.record() for item in batch if item.written]
            if records:
                write_records(conn, records, head)


@dataclass
class PendingRecord:
    """One retrieval's record: written only if every snapshot of `snapshot_ids` is still active. `record`
    makes it, once the transaction that will hold it is open (it may refuse by raising)."""

    record: Callable[[], RecordInput]
    snapshot_ids: frozenset[str] = frozenset()
    written: bool = False
    finished: bool = False
    error: BaseException | None = None
