"""One answer made from what the database calls active (SPEC §3): the active snapshots the task may use
with the facts of their sources (retrieval.active_cache: a copy revalidated in the caller's transaction),
the store search narrowed to them, the texts of the chunks served. Which chunks are served and rejected,
and the status, are decided by retrieval.rules.

The caller chooses the transaction and so what the answer may rely on: a read-only one (nothing
locked; the answer must be checked before it is recorded), or one that holds the candidate sources'
locks (nothing it reads can change before it commits). The caller also gives the policy, read once
for the whole request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Connection, Row, Select, Table, select
from sqlalchemy.orm import Session

from freshness.audit.record import SnapshotFacts, SourceFacts
from freshness.models import Chunk, Document, Source
from freshness.models.sources import chunk_text
from freshness.policy.model import Policy, TaskClass
from freshness.policy.verdict import Verdict
from freshness.retrieval.active_cache import ActiveSet, ActiveSnapshot, Serving
from freshness.retrieval.prepared import prepared
from freshness.retrieval.rules import Decision, decide, scan_limit
from freshness.retrieval.schemas import Rejected, Result, RetrieveRequest, RetrieveResponse
from freshness.runtime import Runtime
from freshness.vectorstore import Hit, SearchFilter
from freshness.vectorstore.base import SOURCE_ID
from freshness.vectorstore.embedders import bm25_query


@dataclass(frozen=True)
class Candidate:
    """A chunk the search ranked, in an active snapshot, with what its verdict and its record need."""

    hit: Hit
    source: SourceFacts
    snapshot: SnapshotFacts

    @property
    def source_class(self) -> str:
        return self.source.source_class

    @property
    def verified_at(self) -> datetime:
        return self.snapshot.verified_at

    @property
    def valid_until(self) -> datetime | None:
        return self.snapshot.valid_until


@dataclass(frozen=True)
class Served:
    result: Result
    candidate: Candidate
    verdict: Verdict


@dataclass(frozen=True)
class Withheld:
    rejected: Rejected
    candidate: Candidate

    @property
    def source_class(self) -> str:
        return self.candidate.source.source_class


@dataclass(frozen=True)
class Answer:
    """The response, and beside each chunk it names the facts it was judged by (for its audit record)."""

    response: RetrieveResponse
    served: list[Served]  # aligned with response.results
    withheld: list[Withheld]  # aligned with response.rejected

    @property
    def served_snapshot_ids(self) -> set[str]:
        return {served.candidate.snapshot.id for served in self.served}


# Statements built once, on the tables rather than the mapped classes and run on the session's connection:
# a select costs more to build than to run on SQLite, and the ORM's handling of each execution (its
# compile plugin, its result machinery) cost more than the statements themselves.
_CHUNK_ROWS = cast(Table, Chunk.__table__)
_DOCUMENTS = cast(Table, Document.__table__)
_CHUNK_COLUMNS = (
    select(_CHUNK_ROWS.c.point_id, _CHUNK_ROWS.c.chunk_id, _CHUNK_ROWS.c.snapshot_id, _CHUNK_ROWS.c.document_id,
           chunk_text(_CHUNK_ROWS.c).label("text"), _CHUNK_ROWS.c.content_hash, _DOCUMENTS.c.uri)
    .select_from(_CHUNK_ROWS.outerjoin(_DOCUMENTS, (_DOCUMENTS.c.snapshot_id == _CHUNK_ROWS.c.snapshot_id)
                                       & (_DOCUMENTS.c.document_id == _CHUNK_ROWS.c.document_id)))
)


def _chunks_of(points: Any, snapshots: Any) -> Select[Any]:
    """The chunk rows of these points in these snapshots (lists of values or of bound parameters)."""
    return _CHUNK_COLUMNS.where(_CHUNK_ROWS.c.point_id.in_(points), _CHUNK_ROWS.c.snapshot_id.in_(snapshots))


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


def active_snapshots(active: ActiveSet, task: TaskClass, body: RetrieveRequest,
                     among: list[str] | None = None) -> Mapping[str, ActiveSnapshot]:
    """The active snapshots of live sources the task and the request's filters allow, by source id.

    `among`: only these sources (the ones whose rows the caller has locked)."""
    allowed = active.of_classes(task.source_classes)
    filters = body.filters
    if among is None and (filters is None or not (filters.tags or filters.source_ids or filters.source_classes)):
        return allowed
    sources = set(among) if among is not None else None
    if filters is not None and filters.source_ids:
        sources = set(filters.source_ids) & sources if sources is not None else set(filters.source_ids)
    classes = set(filters.source_classes) if filters is not None and filters.source_classes else None
    tags = set(filters.tags) if filters is not None and filters.tags else None
    return {i: row for i, row in allowed.items()
            if (sources is None or row.source_id in sources) and (classes is None or row.source_class in classes)
            and (tags is None or not tags.isdisjoint(row.tags))}


def answer(runtime: Runtime, session: Session | Connection, body: RetrieveRequest, task: TaskClass, policy: Policy,
           request_id: str, dense_size: int | None, among: list[str] | None = None) -> Answer:
    """Search, judge and fetch the texts served, in the caller's transaction.

    `among`: only these sources (the ones whose rows the caller has locked)."""
    now = runtime.clock.now()
    serving = runtime.active.current(session)
    active = active_snapshots(serving.active, task, body, among)
    depth = scan_limit(body.top_k)
    while True:
        hits = _search(runtime, body, task, serving, dense_size, depth) if active else []
        ranked = _ranked(hits, active)
        decision, rows, lost = _decide_with_texts(session, task, policy, ranked, body.top_k, now)
        # Points no active snapshot serves that carry no dead mark yet (between an activation's commit and its
        # marks, or when marking failed until reconciliation) pass the store's filter: the search is made
        # again deeper, so that they do not take the places of chunks the active snapshots serve.
        unserved = len(hits) - len(ranked) + lost
        if not unserved or len(hits) < depth or depth >= DEEPEST * scan_limit(body.top_k):
            break
        depth *= 2
    served = [
        Served(_result(rank, judged.candidate, judged.verdict, rows[judged.candidate.hit.id]), judged.candidate,
               judged.verdict)
        for rank, judged in enumerate(decision.served, start=1)
    ]
    withheld = [Withheld(_rejected(judged.candidate, judged.verdict, rows[judged.candidate.hit.id]), judged.candidate)
                for judged in decision.rejected]
    response = RetrieveResponse(
        request_id=request_id,
        status=decision.status.value,
        task_class=task.name,
        policy_version=policy.version,
        served_at=now,
        results=[s.result for s in served],
        rejected=[w.rejected for w in withheld],
    )
    return Answer(response, served, withheld)


DEEPEST = 8  # a search made again deeper goes to at most this many times its usual depth


def _ranked(hits: list[Hit], active: Mapping[str, ActiveSnapshot]) -> list[Candidate]:
    """The hits in ranking order, each with the facts of its source and of that source's active snapshot.
    A hit of a source with no snapshot active now is no candidate, and one that the active snapshot does not
    hold is dropped when its chunk row is missing (_decide_with_texts): the database has the last word."""
    ranked = []
    for hit in hits:
        row = active.get(hit.payload.get(SOURCE_ID, ""))
        if row is not None:
            ranked.append(Candidate(hit, row.source, row.snapshot))
    return ranked


def _decide_with_texts(session: Session | Connection, task: TaskClass, policy: Policy, ranked: list[Candidate],
                       top_k: int, now: datetime) -> tuple[Decision[Candidate], dict, int]:
    """The decision, and the chunk rows, in the snapshot each was judged in, of the chunks it serves and
    withholds (one statement: a withheld chunk's text is read and not used, which costs less than a second
    statement).

    A chunk whose row is missing from its snapshot (the store and the database disagree until
    reconciled) is no candidate: the rules decide again without it, so the next passing chunk takes
    its place. Returns the decision, the rows, and how many chunks were dropped so."""
    rows: dict = {}
    lost: set[str] = set()
    while True:
        pool = [c for c in ranked if c.hit.id not in lost] if lost else ranked
        decision = decide(task, policy.source_classes, pool, top_k, now)
        wanted = [j.candidate for j in (*decision.served, *decision.rejected) if j.candidate.hit.id not in rows]
        if wanted:
            rows.update(_chunk_rows(session, wanted))
        missing = {j.candidate.hit.id for j in (*decision.served, *decision.rejected) if j.candidate.hit.id not in rows}
        if not missing:
            return decision, rows, len(lost)
        lost |= missing


def _search(runtime: Runtime, body: RetrieveRequest, task: TaskClass, serving: Serving, dense_size: int | None,
            depth: int) -> list[Hit]:
    sparse = bm25_query(body.query)
    dense = body.vector
    if dense is None and runtime.embedder is not None and dense_size is not None:
        dense = runtime.embedder.embed([body.query])[0]
    if not sparse.indices and dense is None:
        return []
    filters = body.filters
    classes = list(filters.source_classes) if filters and filters.source_classes else []
    if task.source_classes is not None:
        allowed = set(task.source_classes)
        # The active set is empty when the two leave no class, and then no search runs.
        classes = [c for c in classes if c in allowed] if classes else sorted(allowed)
    where = SearchFilter(
        served_at=serving.served_at,
        hidden_writers=list(serving.hidden_writers),
        source_ids=list(filters.source_ids) if filters else [],
        source_classes=classes,
        tags=list(filters.tags) if filters else [],
    )
    return runtime.store.search(sparse if sparse.indices else None, dense, where, depth, HIT_FIELDS)


# What a hit needs of its point's payload: its source (the rest comes from the chunk row and the active set).
# Fewer fields are fewer values to decode from the store's payload storage and to copy into Python.
HIT_FIELDS = [SOURCE_ID]


def _result(rank: int, candidate: Candidate, verdict: Verdict, chunk: Row[Any]) -> Result:
    return Result(
        rank=rank,
        chunk_id=chunk.chunk_id,
        text=chunk.text,
        score=round(candidate.hit.score, 6),
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
    )


def _rejected(candidate: Candidate, verdict: Verdict, chunk: Row[Any]) -> Rejected:
    return Rejected(
        chunk_id=chunk.chunk_id,
        source_id=candidate.source.id,
        snapshot_id=candidate.snapshot.id,
        reason=cast(Literal["stale", "expired"], verdict.freshness.value),  # only those verdicts are withheld
        age_seconds=verdict.age_seconds,
        max_age_seconds=verdict.max_age_seconds,
    )


def _chunk_rows(session: Session | Connection, candidates: list[Candidate]) -> dict:
    """point id -> the chunk row that point holds in the snapshot its candidate was judged in."""
    judged_in = {c.hit.id: c.snapshot.id for c in candidates}
    points, snapshots = list(judged_in), sorted(set(judged_in.values()))
    conn = session if isinstance(session, Connection) else session.connection()
    if len(points) > _MANY:
        rows = conn.execute(_chunks_of(points, snapshots))
    else:
        statement = prepared(_chunks_of, conn.dialect, points=len(points), snapshots=len(snapshots))
        rows = conn.exec_driver_sql(statement.sql, statement.parameters(points=points, snapshots=snapshots))
    return {row.point_id: row for row in rows if judged_in.get(row.point_id) == row.snapshot_id}


_MANY = 256  # more points than this (a top_k past 25 with many rejections) take SQLAlchemy's expanding IN
