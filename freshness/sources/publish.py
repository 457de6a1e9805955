"""Publishing a snapshot, all or nothing.

Unlike the other use cases this one spans several transactions, because indexing a large
snapshot must not hold a database transaction open:

1. reserve: check, then insert the snapshot as `ingesting` with its documents (a unique index
   allows one ingesting snapshot per source: a second publish gets 409); its chunk rows follow in
   short transactions, so that a large snapshot never holds the database's write lock for long;
2. index: write points to the store in small batches, reusing vectors of unchanged chunks;
3. activate: in one transaction, supersede the previous snapshot and make this one active.

A document sent exactly as in the active snapshot (the same sent hash) is kept: it is not cut, checked
or hashed again, its chunk rows are copied from that snapshot in the database (without their text,
which is stored once per point), and its points are shared as they are: nothing is written to the store
for it (sources.serving). So a re-publish costs what changed, not the whole source.

Cutting, checking and hashing a large body, and embedding its new chunks with BM25, run in a worker
process (sources.worker) so that the service's interpreter stays with retrievals; everything that writes
runs here.

Retrievals only serve snapshots the database says are active, so nothing written in step 2 is
visible before step 3 commits. After it, the points only the superseded snapshot served are marked
dead. Any failure marks the snapshot `failed` and deletes its points;
a process killed midway leaves it `ingesting`, and `recover_unfinished` cleans it up at the next start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Insert,
    Row,
    String,
    Table,
    bindparam,
    func,
    insert,
    null,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from freshness.auth.guards import require_owner
from freshness.auth.keys import Principal
from freshness.db import read_connection, transaction
from freshness.errors import Conflict, InvalidInput
from freshness.ids import chunk_id_block, new_chunk_ids, new_snapshot_id
from freshness.models import Chunk, Document, Snapshot, SnapshotState, Source
from freshness.runtime import Runtime
from freshness.sources import lifecycle, serving
from freshness.sources.indexing import PlannedChunk, Progress, check_kept, index_chunks
from freshness.sources.prepare import (
    KnownDocument,
    PreparedDocument,
    PreparedSnapshot,
    check_envelope,
    encode_documents,
    fingerprint,
    sent_hashes,
)
from freshness.sources.schemas import PublishRequest, PublishResult, PublishStats
from freshness.sources.service import active_snapshot, get_source
from freshness.sources.unfinished import (
    abandoned,
    end_abandoned,
    fail_publish,
    recover_unfinished,  # noqa: F401  (app and CLI import it from here)
)
from freshness.sources.views import snapshot_out
from freshness.sources.worker import workers
from freshness.vectorstore.handover import hand_over

CHUNK_ROWS_PER_TRANSACTION = 250  # a large snapshot's rows, after the reservation: the write lock held briefly
RESERVATION_ROWS = 1_000  # a snapshot with at most this many rows writes them in its reservation
FINGERPRINT = "documents_fingerprint"  # in a snapshot's stats: prepare.fingerprint of its last accepted body
_ACTIVE_FINGERPRINT = (
    select(Snapshot.stats, Snapshot.valid_until)
    .join(Source, Source.active_snapshot_id == Snapshot.id)
    .where(Source.id == bindparam("source_id"))
)
_CHUNKS = cast(Table, Chunk.__table__)
_DOCUMENTS = cast(Table, Document.__table__)
_ACTIVE_DOCUMENTS = (
    select(Source.active_snapshot_id, _DOCUMENTS.c.document_id, _DOCUMENTS.c.sent_hash, _DOCUMENTS.c.content_hash,
           _DOCUMENTS.c.chunk_count)
    .select_from(_DOCUMENTS.join(Source.__table__, Source.active_snapshot_id == _DOCUMENTS.c.snapshot_id))
    .where(Source.id == bindparam("source_id"))
)


@dataclass
class Reservation:
    """What the reserve step decided: the rows to write and the points to write or share."""

    snapshot_id: str = ""
    planned: list[PlannedChunk] = field(default_factory=list)  # chunks of changed documents: new points
    rows: list[dict] = field(default_factory=list)  # their chunk rows
    base_id: str | None = None  # the snapshot the kept documents' chunk rows are copied from
    # The kept documents, a group to each statement that copies their chunk rows, and how many rows those are.
    copies: list[list[str]] = field(default_factory=list)
    copy_rows: int = 0
    copy_ids: tuple[str, int] = ("", 0)  # the copies' chunk ids, as ids.chunk_id_block gives them
    kept_points: list[str] = field(default_factory=list)  # the points the copied rows name, once copied

    @property
    def fits_reservation(self) -> bool:
        """Few enough rows to write in the reserving transaction: they hold the write lock no longer than a
        retrieval's record takes, and save two commits."""
        return len(self.rows) + self.copy_rows <= RESERVATION_ROWS

    def copy(self, session: Session, documents: list[str]) -> list[str]:
        """Copies the kept `documents`' chunk rows from the base in one statement, the database making their
        chunk ids (after those of the rows copied so far), and gives the points the rows name. The caller adds
        those to `kept_points` once the copy commits, so that a transaction run again copies the same."""
        prefix, low = self.copy_ids
        values = {"prefix": prefix, "low": low + len(self.kept_points), "snapshot": self.snapshot_id,
                  "base": self.base_id, "documents": documents}
        # `all()` fetches the rows at once: iterating fetched them one call at a time, 500 calls per copy.
        statement = _copy_statement(session.get_bind().dialect.name)
        return list(session.connection().execute(statement, values).scalars().all())


def _copy_statement(dialect: str) -> Insert:
    """INSERT ... SELECT of kept chunk rows: under new chunk ids (the prefix, then `low` plus the row's number
    as the last 12 hex digits of a UUID), without their text (it stays in the row that holds the point)."""
    statement = _COPY_STATEMENTS.get(dialect)
    if statement is None:
        number = sql_cast(bindparam("low", type_=BigInteger) + func.row_number().over(
            order_by=(_CHUNKS.c.document_id, _CHUNKS.c.position)), BigInteger)
        hex12: ColumnElement[str] = (func.lpad(func.to_hex(number), 12, "0", type_=String) if dialect == "postgresql"
                                     else func.printf("%012x", number, type_=String))
        rows = select(
            bindparam("prefix", type_=String) + hex12, bindparam("snapshot", type_=String), _CHUNKS.c.source_id,
            _CHUNKS.c.document_id, _CHUNKS.c.position, null(), _CHUNKS.c.content_hash, _CHUNKS.c.point_id,
        ).where(_CHUNKS.c.snapshot_id == bindparam("base"),
                _CHUNKS.c.document_id.in_(bindparam("documents", expanding=True)))
        columns = ["chunk_id", "snapshot_id", "source_id", "document_id", "position", "text", "content_hash",
                   "point_id"]
        statement = _COPY_STATEMENTS.setdefault(
            dialect, insert(_CHUNKS).from_select(columns, rows).returning(_CHUNKS.c.point_id))
    return statement


_COPY_STATEMENTS: dict[str, Insert] = {}


def _copy_groups(documents: list[PreparedDocument], rows: int) -> list[list[str]]:
    """The kept documents with chunks, in groups of about `rows` chunk rows (one statement copies a group)."""
    groups: list[list[str]] = []
    size = rows
    for doc in documents:
        if not doc.chunk_count:
            continue
        if size >= rows:
            groups.append([])
            size = 0
        groups[-1].append(doc.id)
        size += doc.chunk_count
    return groups


def publish(
    runtime: Runtime,
    principal: Principal,
    source_id: str,
    body: PublishRequest,
    progress: Progress | None = None,
) -> PublishResult:
    started = time.perf_counter()
    now = runtime.clock.now()
    captured_at = check_envelope(body, runtime.settings, now)
    encoded = encode_documents(body)
    sent_each = sent_hashes(body, runtime.settings, encoded)
    sent = fingerprint(sent_each)
    # The documents exactly as last accepted: nothing to cut, check or hash again (skipped when they are not).
    known = _look(runtime, source_id, sent, body.valid_until)
    prepared = None if known is None else _prepare(runtime, source_id, body, now, sent_each, encoded, known)
    draft = _draft(prepared, source_id)

    ended: list[str] = []

    def begin(session: Session) -> tuple[Source, Snapshot, int | None, Reservation]:
        # Source row first, then its snapshots: the one lock order of every writer and of retrieval.
        source = get_source(session, source_id, for_update=True)
        require_owner(principal, source.owner)
        if source.retired_at is not None:
            raise Conflict(f"source {source_id!r} is retired; register a new source to publish again")
        ended[:] = end_abandoned(session, runtime, source_id)
        active = active_snapshot(session, source)
        if active is not None and active.valid_until == body.valid_until and (
            active.stats.get(FINGERPRINT) == sent if prepared is None else active.content_hash == prepared.content_hash
        ):
            # Unchanged: the content is confirmed current, nothing is re-indexed.
            confirmed = lifecycle.confirm_current(session, source, captured_at)
            assert confirmed is not None  # the source's active snapshot id points at its ACTIVE snapshot
            if confirmed.stats.get(FINGERPRINT) != sent:
                confirmed.stats = {**confirmed.stats, FINGERPRINT: sent}
            return source, confirmed, None, Reservation()
        if prepared is None or (prepared.kept and prepared.base_id != (active.id if active else None)):
            # Another publish or a rollback got in since the look: prepare after all, building on the
            # snapshot active now.
            raise _NotSentBefore
        size = _settle_dense_size(session, prepared)
        assert draft is not None  # drawn up from `prepared`
        return source, *_reserve(session, source, prepared, now, size, draft)

    try:
        source, snapshot, dense_size, plan = transaction(runtime.sessions, begin)
    except _NotSentBefore:
        prepared = _prepare(runtime, source_id, body, now, sent_each, encoded)
        draft = _draft(prepared, source_id)
        try:
            source, snapshot, dense_size, plan = transaction(runtime.sessions, begin)
        except _NotSentBefore:  # it moved again: build on nothing, which needs no snapshot to stay put
            prepared = workers.prepare(body, runtime.settings, now, sent_each, encoded)
            draft = _draft(prepared, source_id)
            source, snapshot, dense_size, plan = transaction(runtime.sessions, begin)
    abandoned(runtime).difference_update(ended)
    if snapshot.state != SnapshotState.INGESTING:  # the active one, confirmed unchanged
        stats = PublishStats(len(body.documents), snapshot.chunk_count, 0, 0, _ms(started))
        runtime.metrics.publish_duration.labels("unchanged").observe(time.perf_counter() - started)
        return PublishResult(snapshot=snapshot_out(snapshot), changed=False, stats=stats)

    reserved_id = snapshot.id
    try:
        if not plan.fits_reservation:
            _write_chunk_rows(runtime, plan)
        if len(plan.kept_points) != plan.copy_rows:
            # The base's chunk rows and its documents' chunk counts disagree: refused rather than serve a
            # snapshot with chunks missing.
            raise Conflict(f"copied {len(plan.kept_points)} chunk rows of the unchanged documents from snapshot"
                           f" {plan.base_id}, whose documents count {plan.copy_rows}; activate another snapshot"
                           " of the source, or publish every document changed, then publish again")
        if dense_size is not None:
            # Only now that the size is committed: a refused publish must not leave the store set up for it.
            runtime.store.ensure_dense(dense_size)
        embedded, reused = index_chunks(runtime, source, snapshot, plan.planned, dense_size, progress)
        check_kept(runtime, plan.kept_points)
        reused += len(plan.kept_points)
        snapshot, done = transaction(runtime.sessions, lambda session: _activate_new(
            session, runtime, reserved_id, source_id, embedded, reused, started, sent, plan.base_id))
    except BaseException as exc:
        fail_publish(runtime, reserved_id, exc)
        raise
    serving.finish(runtime.sessions, runtime.store, done)
    stats = PublishStats(len(body.documents), snapshot.chunk_count, embedded, reused, _ms(started))
    runtime.metrics.publish_duration.labels("changed").observe(time.perf_counter() - started)
    return PublishResult(snapshot=snapshot_out(snapshot), changed=True, stats=stats)


def _prepare(runtime: Runtime, source_id: str, body: PublishRequest, now: datetime,
             sent_each: list[str], encoded: list[bytes], rows: list[Row[Any]] | None = None) -> PreparedSnapshot:
    """Prepared against the documents of the source's active snapshot (`rows`, read now when not given),
    which it keeps where they are sent exactly as then; in the worker process when what is left to prepare
    is large (sources.worker)."""
    if rows is None:
        with read_connection(runtime.sessions) as conn:
            rows = _active_documents(conn, source_id)
    known = {row.document_id: KnownDocument(row.sent_hash, row.content_hash, row.chunk_count) for row in rows}
    prepared = workers.prepare(body, runtime.settings, now, sent_each, encoded, known)
    prepared.base_id = rows[0].active_snapshot_id if rows else None
    return prepared


def _active_documents(conn: Connection, source_id: str) -> list[Row[Any]]:
    return list(conn.execute(_ACTIVE_DOCUMENTS, {"source_id": source_id}).all())


def _write_chunk_rows(runtime: Runtime, plan: Reservation) -> None:
    """The new chunk rows and the kept ones' copies, in short transactions (retrievals write their
    audit records between them: SQLite has one writer at a time)."""
    for start in range(0, len(plan.rows), CHUNK_ROWS_PER_TRANSACTION):
        rows = plan.rows[start : start + CHUNK_ROWS_PER_TRANSACTION]
        # ignore[misc] below: mypy cannot type a lambda that has a default argument
        transaction(runtime.sessions, lambda session, rows=rows: session.execute(_CHUNKS.insert(), rows))  # type: ignore[misc]
    for group in plan.copies:
        points = transaction(runtime.sessions, lambda session, group=group: plan.copy(session, group))  # type: ignore[misc]
        plan.kept_points += points


class _NotSentBefore(Exception):
    """The active snapshot changed between the look and the transaction: the body must be prepared."""


def _look(runtime: Runtime, source_id: str, sent: str, valid_until: datetime | None) -> list[Row[Any]] | None:
    """None when the source's active snapshot was last published or confirmed with exactly these documents;
    else the active snapshot's documents to prepare against, read on the same connection (one read
    transaction on SQLite; on PostgreSQL, in autocommit, `begin` checks the base again under the lock)."""
    with read_connection(runtime.sessions) as conn:
        row = conn.execute(_ACTIVE_FINGERPRINT, {"source_id": source_id}).first()
        if row is not None and (row.stats or {}).get(FINGERPRINT) == sent and row.valid_until == valid_until:
            return None
        return _active_documents(conn, source_id)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _settle_dense_size(session: Session, prepared: PreparedSnapshot) -> int | None:
    """The dense size in force once the publisher's own vectors are counted; they must match it."""
    if prepared.vector_size is None:
        return lifecycle.dense_size(session)
    size = lifecycle.settle_dense_size(session, prepared.vector_size)
    if size != prepared.vector_size:
        raise InvalidInput(
            f"vectors have dimension {prepared.vector_size}, but this service stores dimension {size}",
            field="documents.vectors",
        )
    return size


@dataclass
class _Draft:
    """The new chunks of a prepared snapshot with their ids and rows, drawn up before the reserving
    transaction: for a large snapshot that is tens of milliseconds of Python, which would otherwise hold
    the database's write lock (and keep retrievals' audit records waiting) for as long."""

    snapshot_id: str
    planned: list[PlannedChunk]
    rows: list[dict]


def _draft(prepared: PreparedSnapshot | None, source_id: str) -> _Draft | None:
    if prepared is None:
        return None
    draft = _Draft(new_snapshot_id(), [], [])
    fresh = iter(new_chunk_ids(sum(len(doc.chunks) for doc in prepared.documents)))
    for doc in prepared.documents:
        hand_over()  # a document's rows at a time, then a waiting retrieval goes first
        for index, (text, digest) in enumerate(zip(doc.chunks, doc.chunk_hashes, strict=True)):
            chunk = PlannedChunk(
                chunk_id=next(fresh),
                document_id=doc.id,
                position=index,
                text=text,
                content_hash=digest,
                vector=doc.vectors[index] if doc.vectors is not None else None,
                sparse=doc.sparse[index] if doc.sparse is not None else None,
            )
            draft.planned.append(chunk)
            draft.rows.append(
                dict(
                    chunk_id=chunk.chunk_id,
                    snapshot_id=draft.snapshot_id,
                    source_id=source_id,
                    document_id=doc.id,
                    position=index,
                    text=text,
                    content_hash=digest,
                    point_id=chunk.chunk_id,  # a new point, named as its first chunk row
                )
            )
    return draft


def _reserve(
    session: Session, source: Source, prepared: PreparedSnapshot, now: datetime, dense_size: int | None,
    draft: _Draft,
) -> tuple[Snapshot, int | None, Reservation]:
    snapshot = Snapshot(
        id=draft.snapshot_id,
        source_id=source.id,
        version=prepared.version,
        state=SnapshotState.INGESTING,
        content_hash=prepared.content_hash,
        captured_at=prepared.captured_at,
        verified_at=prepared.captured_at,
        valid_until=prepared.valid_until,
        created_at=now,
        heartbeat_at=now,
        document_count=len(prepared.documents),
        chunk_count=prepared.chunk_count,
        has_dense=prepared.vector_size is not None,
        stats={},
    )
    source_id = source.id  # a failed flush expires every loaded row; read the id before it
    session.add(snapshot)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a publish of source {source_id!r} is already in progress; retry when it ends") from exc
    # The base is the active snapshot, read under the source's lock (begin checked prepared.base_id); the kept
    # documents' rows are copied from it in the database (chunk rows are never deleted, so also later).
    kept = prepared.kept
    copy_rows = sum(doc.chunk_count for doc in kept)
    plan = Reservation(snapshot_id=snapshot.id, planned=draft.planned, rows=draft.rows, base_id=prepared.base_id,
                       copy_rows=copy_rows, copy_ids=chunk_id_block(copy_rows))
    plan.copies = _copy_groups(kept, RESERVATION_ROWS if plan.fits_reservation else CHUNK_ROWS_PER_TRANSACTION)
    documents = []
    for position, doc in enumerate(prepared.documents):
        # Keyed by column name: `metadata_` is stored as `metadata`.
        documents.append({"snapshot_id": snapshot.id, "document_id": doc.id, "position": position,
                          "title": doc.title, "uri": doc.uri, "metadata": doc.metadata,
                          "content_hash": doc.content_hash, "chunk_count": doc.chunk_count,
                          "sent_hash": doc.sent_hash})
    session.execute(_DOCUMENTS.insert(), documents)
    if plan.fits_reservation:
        if plan.rows:
            session.execute(_CHUNKS.insert(), plan.rows)
        # One group at most (RESERVATION_ROWS); the reservation's transaction is not run again once it returns.
        for group in plan.copies:
            plan.kept_points += plan.copy(session, group)
    return snapshot, dense_size, plan


def _activate_new(
    session: Session, runtime: Runtime, snapshot_id: str, source_id: str, embedded: int, reused: int, started: float,
    sent: str, built_on: str | None,
) -> tuple[Snapshot, serving.StepDown]:
    source = get_source(session, source_id, for_update=True)
    previous = source.active_snapshot_id
    # Both snapshots in one statement: the activation then finds them in the session (which keeps them only
    # while something refers to them: `_loaded`, to the end), not by a read each.
    _loaded = session.scalars(_SNAPSHOTS, {"ids": [snapshot_id, previous]}).all()
    snapshot = session.get_one(Snapshot, snapshot_id)
    stats = {"chunks_embedded": embedded, "chunks_reused": reused, "duration_ms": _ms(started), FINGERPRINT: sent}
    snapshot = lifecycle.activate_new(session, source, snapshot, runtime.clock.now(), stats)
    done = serving.take_over(session, runtime.store, source_id, previous, snapshot_id, published=True,
                             built_on=built_on)
    return snapshot, done


_SNAPSHOTS = select(Snapshot).where(Snapshot.id.in_(bindparam("ids", expanding=True)))
