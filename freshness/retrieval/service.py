"""Retrieve context for a task (SPEC §3): only active snapshots, judged by the policy, recorded.

Two units of work. The first only reads (no write lock): the snapshots the database calls active,
the store search narrowed to them, the chunks and the verdicts. The second writes the audit record,
after checking, in the same transaction, that every snapshot the answer uses is still active; if
a publish, rollback or retire got in between, the answer is made again. Records of concurrent
retrievals share that transaction (audit.writer.GroupCommit). The response leaves only after the
transaction holding its record commits. The active set always comes from the shared database, never from
a cache, so a change any replica committed before this request began is honoured.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from freshness.audit.writer import GroupCommit, PendingRecord, write_record
from freshness.auth.keys import Principal
from freshness.db import read_scope, session_scope
from freshness.dbfaults import DatabaseUnavailable, as_unavailable, backoff, is_transient, is_unavailable
from freshness.errors import Conflict, FreshnessError, InvalidInput, Unavailable
from freshness.ids import new_request_id
from freshness.models import Chunk, Document, Retrieval, Snapshot, SnapshotState, Source
from freshness.policy.model import Policy, TaskClass
from freshness.policy.verdict import Freshness, Verdict, is_served, judge_for_task
from freshness.retrieval.schemas import Rejected, Result, RetrieveRequest, RetrieveResponse
from freshness.runtime import DENSE_SIZE_KEY, Runtime, state_value
from freshness.vectorstore import Hit, SearchFilter
from freshness.vectorstore.embedders import bm25_query

log = logging.getLogger("freshness.retrieval")
SCAN_FACTOR = 10
MAX_TOP_K = 100
ATTEMPTS = 3  # answers made again when the served snapshots changed state meanwhile


@dataclass(frozen=True)
class SourceFacts:
    id: str
    title: str
    owner: str
    uri: str | None
    source_class: str


@dataclass(frozen=True)
class SnapshotFacts:
    id: str
    version: str | None
    captured_at: datetime
    verified_at: datetime
    valid_until: datetime | None
    content_hash: str


@dataclass(frozen=True)
class _Candidate:
    source: SourceFacts
    snapshot: SnapshotFacts


def resolve_request_id(body_id: str | None, header_id: str | None) -> str:
    if header_id is not None:
        if not re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", header_id):
            raise InvalidInput("X-Request-ID must be 1-128 characters of A-Za-z0-9._:-", field="X-Request-ID")
        if body_id is not None and body_id != header_id:
            raise InvalidInput("request_id in the body and the X-Request-ID header disagree", field="request_id")
        return header_id
    return body_id or new_request_id()


def _validate(body: RetrieveRequest, policy: Policy, max_query: int, dense_size: int | None) -> TaskClass:
    task = policy.task_classes.get(body.task_class)
    if task is None:
        known = ", ".join(sorted(policy.task_classes))
        raise InvalidInput(f"unknown task_class {body.task_class!r}; known task classes: {known}",
                           field="task_class")
    if not body.query.strip():
        raise InvalidInput("query is empty", field="query")
    if len(body.query) > max_query:
        raise InvalidInput(f"query has {len(body.query)} characters, at most {max_query}", field="query")
    if not 1 <= body.top_k <= MAX_TOP_K:
        raise InvalidInput(f"top_k must be from 1 to {MAX_TOP_K}, got {body.top_k}", field="top_k")
    if body.vector is not None:
        if dense_size is None:
            raise InvalidInput("vector given, but no dense index exists: no snapshot has dense vectors yet",
                               field="vector")
        if len(body.vector) != dense_size:
            raise InvalidInput(f"vector has dimension {len(body.vector)}, expected {dense_size}", field="vector")
        if not all(math.isfinite(x) for x in body.vector):
            raise InvalidInput("vector holds values that are not finite numbers", field="vector")
    if body.filters is not None:
        for name in body.filters.source_classes:
            if name not in policy.source_classes:
                raise InvalidInput(f"filters.source_classes: unknown source class {name!r}",
                                   field="filters.source_classes")
    return task


# Statements built once: building a select costs more than running it on SQLite.
_REQUEST_ID_USED = select(Retrieval.request_id).where(Retrieval.request_id == bindparam("request_id"))
_ACTIVE = (
    select(Snapshot.id)
    .join(Source, Source.active_snapshot_id == Snapshot.id)
    .where(Source.retired_at.is_(None), Snapshot.state == SnapshotState.ACTIVE)
)
_ACTIVE_OF_CLASSES = _ACTIVE.where(Source.source_class.in_(bindparam("classes", expanding=True)))
_CANDIDATES = (
    select(Source.id, Source.title, Source.owner, Source.uri, Source.source_class,
           Snapshot.id, Snapshot.version, Snapshot.captured_at, Snapshot.verified_at, Snapshot.valid_until,
           Snapshot.content_hash)
    .join(Source, Source.active_snapshot_id == Snapshot.id)
    .where(Snapshot.id.in_(bindparam("ids", expanding=True)), Source.retired_at.is_(None),
           Snapshot.state == SnapshotState.ACTIVE)
)
_STILL_ACTIVE = _ACTIVE.where(Snapshot.id.in_(bindparam("ids", expanding=True)))
# Locks the source rows only, in id order: the order every writer takes them (source row, then its snapshots),
# so a retrieval and an activation never wait for each other in a circle.
_STILL_ACTIVE_LOCKED = _STILL_ACTIVE.order_by(Source.id).with_for_update(read=True, of=Source)
_CHUNKS = (
    select(Chunk.chunk_id, Chunk.snapshot_id, Chunk.document_id, Chunk.text, Chunk.content_hash, Document.uri)
    .outerjoin(Document, (Document.snapshot_id == Chunk.snapshot_id) & (Document.document_id == Chunk.document_id))
    .where(Chunk.chunk_id.in_(bindparam("ids", expanding=True)))
)


def _active_snapshot_ids(session: Session, task: TaskClass, body: RetrieveRequest) -> set[str]:
    """Ids of the active snapshots of live sources the task may use (only ids: the search needs no more)."""
    filters = body.filters
    if filters is None or not (filters.tags or filters.source_ids or filters.source_classes):
        if task.source_classes is None:
            return set(session.scalars(_ACTIVE))
        return set(session.scalars(_ACTIVE_OF_CLASSES, {"classes": list(task.source_classes)}))
    with_tags = bool(filters.tags)
    query = (
        select(Snapshot.id, Source.tags) if with_tags else select(Snapshot.id)
    ).join(Source, Source.active_snapshot_id == Snapshot.id).where(
        Source.retired_at.is_(None), Snapshot.state == SnapshotState.ACTIVE
    )
    if task.source_classes is not None:
        query = query.where(Source.source_class.in_(task.source_classes))
    if filters.source_ids:
        query = query.where(Source.id.in_(filters.source_ids))
    if filters.source_classes:
        query = query.where(Source.source_class.in_(filters.source_classes))
    if not with_tags:
        return set(session.scalars(query))
    wanted = set(filters.tags)
    return {snapshot_id for snapshot_id, tags in session.execute(query) if wanted & set(tags or [])}


def _candidates(session: Session, snapshot_ids: set[str]) -> dict[str, _Candidate]:
    """snapshot id -> the source and snapshot facts an answer and its audit record need, still active."""
    if not snapshot_ids:
        return {}
    rows = session.execute(_CANDIDATES, {"ids": sorted(snapshot_ids)})
    return {row[5]: _Candidate(SourceFacts(*row[:5]), SnapshotFacts(*row[5:])) for row in rows}


def _still_active(session: Session, snapshot_ids: set[str]) -> bool:
    """In the writing transaction: is every snapshot the answer uses still the active one of a live source?

    On PostgreSQL their sources' rows are share-locked until the audit record commits: every change of
    which snapshot is active (publish, activate, retire) is made under an update lock of the source row,
    so none can slip in between. SQLite's write lock, held since this transaction began, does the same."""
    if not snapshot_ids:
        return True
    query = _STILL_ACTIVE_LOCKED if session.get_bind().dialect.name == "postgresql" else _STILL_ACTIVE
    return len(set(session.scalars(query, {"ids": sorted(snapshot_ids)}))) == len(snapshot_ids)


def retrieve(runtime: Runtime, principal: Principal, body: RetrieveRequest, header_request_id: str | None
             ) -> RetrieveResponse:
    started = time.perf_counter()
    settings = runtime.settings
    policy = runtime.policy.current
    request_id = resolve_request_id(body.request_id, header_request_id)
    dense_size = _dense_size(runtime) if body.vector is not None or runtime.embedder is not None else None
    task = _validate(body, policy, settings.max_query_length, dense_size)

    try:
        return _retrieve_and_record(runtime, principal, body, task, request_id, dense_size, started)
    except IntegrityError as exc:
        with session_scope(runtime.sessions) as session:
            reused = session.get(Retrieval, request_id) is not None
        if reused:
            raise Conflict(f"request id {request_id!r} is in use; send another one or none") from exc
        raise Unavailable("the audit record could not be written, so no context is served; retry") from exc
    except FreshnessError:
        raise
    except Exception as exc:  # fail closed: no record, no answer
        log.error("audit write failed for %s: %s", request_id, exc)
        if is_unavailable(exc):
            raise as_unavailable(exc, ", so no context is served") from exc
        raise Unavailable("the audit record could not be written, so no context is served; retry") from exc


def _group_commit(runtime: Runtime) -> GroupCommit:
    group = runtime.extras.get(GroupCommit)
    if group is None:
        group = runtime.extras.setdefault(GroupCommit, GroupCommit(runtime.sessions))
    return group


def _retrieve_and_record(runtime: Runtime, principal: Principal, body: RetrieveRequest, task: TaskClass,
                         request_id: str, dense_size: int | None, started: float) -> RetrieveResponse:
    budget = runtime.settings.db_timeout
    for attempt in range(ATTEMPTS):
        with read_scope(runtime.sessions) as session:
            if session.scalar(_REQUEST_ID_USED, {"request_id": request_id}) is not None:
                raise Conflict(f"request id {request_id!r} is in use; send another one or none")
            response, candidates = _answer(runtime, session, body, task, request_id, dense_size)
        used = {r.snapshot_id for r in response.results} | {r.snapshot_id for r in response.rejected}

        tries = [0]

        def append(session: Session) -> bool:
            tries[0] += 1
            if tries[0] > 1 and time.perf_counter() - started > budget:
                # The group's transaction failed and its records are tried one by one: past the timeout,
                # answer 503 now rather than queue behind a database that has just failed.
                raise DatabaseUnavailable("the audit record could not be written within FRESHNESS_DB_TIMEOUT,"
                                          " so no context is served; retry shortly")
            if not _still_active(session, used):
                return False
            latency_ms = int((time.perf_counter() - started) * 1000)
            write_record(session, runtime, principal, body, task, response, candidates, latency_ms)
            return True

        try:
            written = _group_commit(runtime).submit(PendingRecord(append))
        except Exception as exc:
            # A deadlock or serialisation failure: the answer is made again, after a short random pause.
            if attempt + 1 >= ATTEMPTS or not is_transient(exc) or time.perf_counter() - started >= budget:
                raise
            log.info("retrieval %s: %s; answering again", request_id, type(exc).__name__)
            backoff(attempt)
            continue
        if written:
            return response
        log.info("retrieval %s: a snapshot it used changed state meanwhile; answering again", request_id)
    raise Unavailable("the sources changed state during the retrieval, so no context is served; retry")


def _answer(runtime: Runtime, session: Session, body: RetrieveRequest, task: TaskClass, request_id: str,
            dense_size: int | None) -> tuple[RetrieveResponse, dict[str, _Candidate]]:
    policy = runtime.policy.current
    now = runtime.clock.now()
    active = _active_snapshot_ids(session, task, body)
    served: list[tuple[int, Result]] = []
    scanned_rejected: list[tuple[int, Rejected]] = []
    candidates: dict[str, _Candidate] = {}
    if active:
        hits = _search(runtime, body, active, dense_size)
        served, scanned_rejected, candidates = _judge(session, task, policy, hits, active, body.top_k, now)
    results = [result for _, result in served]
    if len(served) < body.top_k:
        # Fewer than top_k passed: every scanned rejection explains the short answer.
        rejected = [r for _, r in scanned_rejected]
    else:
        last_served = served[-1][0]
        rejected = [r for position, r in scanned_rejected if position < last_served]
    usable = sum(1 for r in results if r.freshness in (Freshness.FRESH, Freshness.WARN))
    if usable < task.min_fresh_results:
        status = "insufficient_context"
    elif any(r.freshness != Freshness.FRESH for r in results):
        status = "flagged"
    else:
        status = "ok"
    response = RetrieveResponse(
        request_id=request_id,
        status=status,
        task_class=task.name,
        policy_version=policy.version,
        served_at=now,
        results=results,
        rejected=rejected,
    )
    return response, candidates


def _dense_size(runtime: Runtime) -> int | None:
    """The collection's dense size. Once set it never changes, so it is read once per process."""
    size = runtime.extras.get(DENSE_SIZE_KEY)
    if size is None:
        with read_scope(runtime.sessions) as session:
            value = state_value(session, DENSE_SIZE_KEY)
        size = int(value) if value else None
        if size is not None:
            runtime.extras[DENSE_SIZE_KEY] = size
    return size


def _search(runtime: Runtime, body: RetrieveRequest, active: set[str], dense_size: int | None):
    sparse = bm25_query(body.query)
    dense = body.vector
    if dense is None and runtime.embedder is not None and dense_size is not None:
        dense = runtime.embedder.embed([body.query])[0]
    filters = body.filters
    where = SearchFilter(
        snapshot_ids=sorted(active),
        source_ids=list(filters.source_ids) if filters else [],
        source_classes=list(filters.source_classes) if filters else [],
        tags=list(filters.tags) if filters else [],
    )
    limit = body.top_k * SCAN_FACTOR
    if not sparse.indices and dense is None:
        return []
    return runtime.store.search(sparse if sparse.indices else None, dense, where, limit)


def _judge(session: Session, task: TaskClass, policy: Policy, hits, active: set[str], top_k: int, now: datetime
           ) -> tuple[list[tuple[int, Result]], list[tuple[int, Rejected]], dict[str, _Candidate]]:
    """Walk the ranking: verdicts from the snapshot facts, texts only for the chunks served.

    A point's payload names its snapshot (written once at publish, never changed), so the verdict
    needs no chunk row; the database still decides which snapshots are active, and a served chunk
    must have its row in that snapshot."""
    # The database has the last word: a point whose snapshot is not active now is never served.
    candidates = _candidates(session, {h.payload.get("snapshot_id") for h in hits} & active)
    served: list[tuple[int, Result]] = []
    rejected: list[tuple[int, Rejected]] = []
    passing: list[tuple[int, Hit, _Candidate, Verdict]] = []
    for position, hit in enumerate(hits):
        candidate = candidates.get(hit.payload.get("snapshot_id"))
        if candidate is None:
            continue
        klass = policy.source_classes[candidate.source.source_class]
        verdict = judge_for_task(task, klass, candidate.snapshot.verified_at, candidate.snapshot.valid_until, now)
        if is_served(task, verdict):
            passing.append((position, hit, candidate, verdict))
        else:
            rejected.append((position, Rejected(
                chunk_id=hit.id,
                source_id=candidate.source.id,
                snapshot_id=candidate.snapshot.id,
                reason=verdict.freshness.value,
                age_seconds=verdict.age_seconds,
                max_age_seconds=verdict.max_age_seconds,
            )))
    # Texts for the first top_k passing chunks; one whose row is missing is skipped for the next.
    while passing and len(served) < top_k:
        batch, passing = passing[: top_k - len(served)], passing[top_k - len(served):]
        rows = _chunk_rows(session, [hit.id for _, hit, _, _ in batch])
        for position, hit, candidate, verdict in batch:
            chunk = rows.get(hit.id)
            if chunk is None or chunk.snapshot_id != candidate.snapshot.id:
                continue
            served.append((position, Result(
                rank=len(served) + 1,
                chunk_id=chunk.chunk_id,
                text=chunk.text,
                score=round(hit.score, 6),
                source_id=candidate.source.id,
                source_class=candidate.source.source_class,
                snapshot_id=candidate.snapshot.id,
                snapshot_version=candidate.snapshot.version,
                document_id=chunk.document_id,
                uri=chunk.uri,
                captured_at=candidate.snapshot.captured_at,
                verified_at=candidate.snapshot.verified_at,
                age_seconds=verdict.age_seconds,
                freshness=verdict.freshness.value,
                content_hash=chunk.content_hash,
            )))
    return served, rejected, candidates


def _chunk_rows(session: Session, chunk_ids: list[str]) -> dict:
    """chunk id -> (chunk_id, snapshot_id, document_id, text, content_hash, uri of its document)."""
    rows = session.execute(_CHUNKS, {"ids": chunk_ids})
    return {row.chunk_id: row for row in rows}
