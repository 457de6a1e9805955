"""One answer made from what the database calls active (SPEC §3): the active snapshots the task may use,
the store search narrowed to them, the verdicts, the texts of the chunks served.

The caller chooses the transaction and so what the answer may rely on: a read-only one (nothing
locked; the answer must be checked before it is recorded), or one that holds the candidate sources'
locks (nothing it reads can change before it commits).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from freshness.models import Chunk, Document, Snapshot, SnapshotState, Source
from freshness.policy.model import Policy, TaskClass
from freshness.policy.verdict import Freshness, Verdict, is_served, judge_for_task
from freshness.retrieval.schemas import Rejected, Result, RetrieveRequest, RetrieveResponse
from freshness.runtime import Runtime
from freshness.vectorstore import Hit, SearchFilter
from freshness.vectorstore.embedders import bm25_query

SCAN_FACTOR = 10


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
class Candidate:
    source: SourceFacts
    snapshot: SnapshotFacts


# Statements built once: building a select costs more than running it on SQLite.
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
_CHUNKS = (
    select(Chunk.chunk_id, Chunk.snapshot_id, Chunk.document_id, Chunk.text, Chunk.content_hash, Document.uri)
    .outerjoin(Document, (Document.snapshot_id == Chunk.snapshot_id) & (Document.document_id == Chunk.document_id))
    .where(Chunk.chunk_id.in_(bindparam("ids", expanding=True)))
)


def source_conditions(task: TaskClass, body: RetrieveRequest) -> list:
    """Conditions on `sources` for the live sources the task and the request's filters allow (tags aside:
    they are matched in Python)."""
    conditions = [Source.retired_at.is_(None)]
    if task.source_classes is not None:
        conditions.append(Source.source_class.in_(task.source_classes))
    filters = body.filters
    if filters is not None and filters.source_ids:
        conditions.append(Source.id.in_(filters.source_ids))
    if filters is not None and filters.source_classes:
        conditions.append(Source.source_class.in_(filters.source_classes))
    return conditions


def active_snapshot_ids(session: Session, task: TaskClass, body: RetrieveRequest,
                        among: list[str] | None = None) -> set[str]:
    """Ids of the active snapshots of live sources the task may use (only ids: the search needs no more).

    `among`: only these sources (the ones whose rows the caller has locked)."""
    filters = body.filters
    plain = filters is None or not (filters.tags or filters.source_ids or filters.source_classes)
    if plain and among is None:
        if task.source_classes is None:
            return set(session.scalars(_ACTIVE))
        return set(session.scalars(_ACTIVE_OF_CLASSES, {"classes": list(task.source_classes)}))
    with_tags = filters is not None and bool(filters.tags)
    query = (
        select(Snapshot.id, Source.tags) if with_tags else select(Snapshot.id)
    ).join(Source, Source.active_snapshot_id == Snapshot.id).where(
        Snapshot.state == SnapshotState.ACTIVE, *source_conditions(task, body)
    )
    if among is not None:
        query = query.where(Source.id.in_(among))
    if not with_tags:
        return set(session.scalars(query))
    wanted = set(filters.tags)
    return {snapshot_id for snapshot_id, tags in session.execute(query) if wanted & set(tags or [])}


def answer(runtime: Runtime, session: Session, body: RetrieveRequest, task: TaskClass, request_id: str,
           dense_size: int | None, among: list[str] | None = None) -> tuple[RetrieveResponse, dict[str, Candidate]]:
    """The response, and the facts of every snapshot it names (for its audit record)."""
    policy = runtime.policy.current
    now = runtime.clock.now()
    active = active_snapshot_ids(session, task, body, among)
    served: list[tuple[int, Result]] = []
    scanned_rejected: list[tuple[int, Rejected]] = []
    candidates: dict[str, Candidate] = {}
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


def _candidates(session: Session, snapshot_ids: set[str]) -> dict[str, Candidate]:
    """snapshot id -> the source and snapshot facts an answer and its audit record need, still active."""
    if not snapshot_ids:
        return {}
    rows = session.execute(_CANDIDATES, {"ids": sorted(snapshot_ids)})
    return {row[5]: Candidate(SourceFacts(*row[:5]), SnapshotFacts(*row[5:])) for row in rows}


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
           ) -> tuple[list[tuple[int, Result]], list[tuple[int, Rejected]], dict[str, Candidate]]:
    """Walk the ranking: verdicts from the snapshot facts, texts only for the chunks served.

    A point's payload names its snapshot (written once at publish, never changed), so the verdict
    needs no chunk row; the database still decides which snapshots are active, and a served chunk
    must have its row in that snapshot."""
    # The database has the last word: a point whose snapshot is not active now is never served.
    candidates = _candidates(session, {h.payload.get("snapshot_id") for h in hits} & active)
    served: list[tuple[int, Result]] = []
    rejected: list[tuple[int, Rejected]] = []
    passing: list[tuple[int, Hit, Candidate, Verdict]] = []
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
