"""Retrieve context for a task (SPEC §3): only active snapshots, judged by the policy, recorded.

The store narrows the search to the snapshots the database calls active at the start of the
unit of work; the same transaction then writes the audit record, and the response leaves only
after it commits. A publish, rollback or retire committed by any replica before this request
began is honoured because the active set comes from the shared database, never from a cache.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from freshness.audit.writer import write_record
from freshness.auth.keys import Principal
from freshness.db import session_scope
from freshness.errors import Conflict, FreshnessError, InvalidInput, Unavailable
from freshness.ids import new_request_id
from freshness.models import Chunk, Document, Retrieval, Snapshot, SnapshotState, Source
from freshness.policy.model import Policy, TaskClass
from freshness.policy.verdict import Freshness, is_served, judge_for_task
from freshness.retrieval.schemas import Rejected, Result, RetrieveRequest, RetrieveResponse
from freshness.runtime import Runtime
from freshness.vectorstore import SearchFilter
from freshness.vectorstore.embedders import bm25_query

log = logging.getLogger("freshness.retrieval")
SCAN_FACTOR = 10
MAX_TOP_K = 100


@dataclass
class _Candidate:
    source: Source
    snapshot: Snapshot


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


def _active_candidates(session: Session, task: TaskClass, body: RetrieveRequest) -> dict[str, _Candidate]:
    """snapshot id -> (source, snapshot) for every active snapshot of a live source the task may use."""
    query = (
        select(Source, Snapshot)
        .join(Snapshot, Snapshot.id == Source.active_snapshot_id)
        .where(Source.retired_at.is_(None), Snapshot.state == SnapshotState.ACTIVE)
    )
    if task.source_classes is not None:
        query = query.where(Source.source_class.in_(task.source_classes))
    filters = body.filters
    if filters is not None:
        if filters.source_ids:
            query = query.where(Source.id.in_(filters.source_ids))
        if filters.source_classes:
            query = query.where(Source.source_class.in_(filters.source_classes))
    out: dict[str, _Candidate] = {}
    for source, snapshot in session.execute(query):
        if filters is not None and filters.tags and not set(filters.tags) & set(source.tags or []):
            continue
        out[snapshot.id] = _Candidate(source, snapshot)
    return out


def retrieve(runtime: Runtime, principal: Principal, body: RetrieveRequest, header_request_id: str | None
             ) -> RetrieveResponse:
    started = time.perf_counter()
    settings = runtime.settings
    policy = runtime.policy.current
    request_id = resolve_request_id(body.request_id, header_request_id)
    dense_size = runtime.dense_size() if body.vector is not None or runtime.embedder is not None else None
    task = _validate(body, policy, settings.max_query_length, dense_size)

    try:
        return _retrieve_and_record(runtime, principal, body, task, request_id, dense_size, started)
    except IntegrityError as exc:
        with session_scope(runtime.sessions) as session:
            reused = session.get(Retrieval, request_id) is not None
        if reused:
            raise Conflict(f"request id {request_id!r} was already used; send a new one or none") from exc
        raise Unavailable("the audit record could not be written, so no context is served; retry") from exc
    except FreshnessError:
        raise
    except Exception as exc:  # fail closed: no record, no answer
        log.error("audit write failed for %s: %s", request_id, exc)
        raise Unavailable("the audit record could not be written, so no context is served; retry") from exc


def _retrieve_and_record(runtime: Runtime, principal: Principal, body: RetrieveRequest, task: TaskClass,
                         request_id: str, dense_size: int | None, started: float) -> RetrieveResponse:
    policy = runtime.policy.current
    with session_scope(runtime.sessions) as session:
        if session.get(Retrieval, request_id) is not None:
            raise Conflict(f"request id {request_id!r} was already used; send a new one or none")
        now = runtime.clock.now()
        candidates = _active_candidates(session, task, body)
        served: list[tuple[int, Result]] = []
        scanned_rejected: list[tuple[int, Rejected]] = []
        if candidates:
            hits = _search(runtime, body, candidates, dense_size)
            served, scanned_rejected = _judge(session, task, policy, hits, candidates, body.top_k, now)
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
        latency_ms = int((time.perf_counter() - started) * 1000)
        write_record(session, runtime, principal, body, task, response, candidates, latency_ms)
    return response


def _search(runtime: Runtime, body: RetrieveRequest, candidates: dict[str, _Candidate], dense_size: int | None):
    sparse = bm25_query(body.query)
    dense = body.vector
    if dense is None and runtime.embedder is not None and dense_size is not None:
        dense = runtime.embedder.embed([body.query])[0]
    filters = body.filters
    where = SearchFilter(
        snapshot_ids=sorted(candidates),
        source_ids=list(filters.source_ids) if filters else [],
        source_classes=list(filters.source_classes) if filters else [],
        tags=list(filters.tags) if filters else [],
    )
    limit = body.top_k * SCAN_FACTOR
    if not sparse.indices and dense is None:
        return []
    return runtime.store.search(sparse if sparse.indices else None, dense, where, limit)


def _judge(session, task, policy, hits, candidates, top_k, now):
    chunk_ids = [h.id for h in hits]
    chunks = {c.chunk_id: c for c in session.scalars(select(Chunk).where(Chunk.chunk_id.in_(chunk_ids)))}
    doc_keys = {(c.snapshot_id, c.document_id) for c in chunks.values()}
    uris: dict[tuple[str, str], str | None] = {}
    if doc_keys:
        rows = session.execute(
            select(Document.snapshot_id, Document.document_id, Document.uri).where(
                tuple_(Document.snapshot_id, Document.document_id).in_(list(doc_keys))
            )
        )
        uris = {(s, d): u for s, d, u in rows}
    served: list[tuple[int, Result]] = []
    rejected: list[tuple[int, Rejected]] = []
    for position, hit in enumerate(hits):
        if len(served) >= top_k:
            break
        chunk = chunks.get(hit.id)
        # The database has the last word: a point whose snapshot is not active now is never served.
        if chunk is None or chunk.snapshot_id not in candidates:
            continue
        candidate = candidates[chunk.snapshot_id]
        klass = policy.source_classes[candidate.source.source_class]
        verdict = judge_for_task(task, klass, candidate.snapshot.verified_at, candidate.snapshot.valid_until, now)
        if is_served(task, verdict):
            result = Result(
                rank=len(served) + 1,
                chunk_id=chunk.chunk_id,
                text=chunk.text,
                score=round(hit.score, 6),
                source_id=candidate.source.id,
                source_class=candidate.source.source_class,
                snapshot_id=candidate.snapshot.id,
                snapshot_version=candidate.snapshot.version,
                document_id=chunk.document_id,
                uri=uris.get((chunk.snapshot_id, chunk.document_id)),
                captured_at=candidate.snapshot.captured_at,
                verified_at=candidate.snapshot.verified_at,
                age_seconds=verdict.age_seconds,
                freshness=verdict.freshness.value,
                content_hash=chunk.content_hash,
            )
            served.append((position, result))
        else:
            rejected.append((position, Rejected(
                chunk_id=chunk.chunk_id,
                source_id=candidate.source.id,
                snapshot_id=candidate.snapshot.id,
                reason=verdict.freshness.value,
                age_seconds=verdict.age_seconds,
                max_age_seconds=verdict.max_age_seconds,
            )))
    return served, rejected
