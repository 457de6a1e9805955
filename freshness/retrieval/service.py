"""Retrieve context for a task (SPEC §3): only active snapshots, judged by the policy, recorded.

An answer is made optimistically first, in two units of work. The first only reads (no write lock):
the snapshots the database calls active, the store search narrowed to them, the chunks
(retrieval.answer) and which of them are served and rejected (retrieval.rules, a pure function). The
second writes the audit record, after checking, in the same transaction, that every snapshot the
answer serves is still the active one of a live source; if a publish, rollback or retire got in
between, the answer is made again. Records of concurrent retrievals share that transaction
(audit.writer.GroupCommit). The last attempt cannot lose that race: it takes the sources' locks first
and answers and records under them (retrieval.locked), so ordinary publishing never turns a retrieval
into a 503.

Invariants:
- One policy per request: the caller reads it once and it is passed to every step, so the task class,
  the verdicts, the `policy_version` answered and the record all come from one version.
- Nothing served is of a snapshot that is not active, or of a retired source, when the transaction
  holding its record commits; one source contributes one snapshot (all come from one read of the
  active set).
- Rejected chunks are not held to that: never served, they are reported as judged in the read the
  answer came from, in which their snapshot was active. A rejected snapshot superseded meanwhile
  does not make the answer again.
- The response leaves only after the transaction holding its record commits.
- The active set is the one the database holds in the request's read (one transaction on SQLite,
  autocommit statements on PostgreSQL): the process's copy serves only while the serving token read
  there is the one it was read under
  (retrieval.active_cache), so a change any replica committed before this request began is honoured.
"""

from __future__ import annotations

import logging
import math
import re
import time
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.exc import IntegrityError

from freshness.audit.record import RecordInput
from freshness.audit.writer import GroupCommit, PendingRecord
from freshness.auth.keys import Principal
from freshness.db import read_connection, read_scope, session_scope
from freshness.dbfaults import DatabaseUnavailable, as_unavailable, backoff, is_transient, is_unavailable
from freshness.errors import Conflict, FreshnessError, InvalidInput, Unavailable
from freshness.ids import new_request_id
from freshness.models import Retrieval
from freshness.policy.model import Policy, TaskClass
from freshness.retrieval.answer import Answer, answer
from freshness.retrieval.audit_input import record_input
from freshness.retrieval.locked import answer_under_locks
from freshness.retrieval.rules import SCAN_FACTOR  # noqa: F401 - bench reads it here
from freshness.retrieval.schemas import (
    MAX_TOP_K,
    REQUEST_ID_PATTERN,
    REQUEST_ID_RULE,
    RetrieveRequest,
    RetrieveResponse,
)
from freshness.runtime import DENSE_SIZE_KEY, Runtime, state_value
from freshness.vectorstore.handover import readers

log = logging.getLogger("freshness.retrieval")
ATTEMPTS = 3  # answers made in all: optimistic ones, then a last one under the sources' locks


def resolve_request_id(body_id: str | None, header_id: str | None) -> str:
    if header_id is not None:
        if not re.fullmatch(REQUEST_ID_PATTERN, header_id):
            raise InvalidInput(f"X-Request-ID must be {REQUEST_ID_RULE}", field="X-Request-ID")
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


_RETRIEVALS = cast(Table, Retrieval.__table__)
_REQUEST_ID_USED = select(_RETRIEVALS.c.request_id).where(_RETRIEVALS.c.request_id == bindparam("request_id"))


def retrieve(runtime: Runtime, principal: Principal, body: RetrieveRequest, header_request_id: str | None,
             policy: Policy | None = None) -> RetrieveResponse:
    """The retrieve use case in-process; `policy`: the one this request runs under (default: the one in force now)."""
    return answer_request(runtime, principal, body, header_request_id, policy or runtime.policy.current).response


def answer_request(runtime: Runtime, principal: Principal, body: RetrieveRequest, header_request_id: str | None,
                   policy: Policy) -> Answer:
    """Answer and record one retrieval under `policy`; the answer is returned once its record has committed."""
    started = time.perf_counter()
    request_id = resolve_request_id(body.request_id, header_request_id)
    dense_size = _dense_size(runtime) if body.vector is not None or runtime.embedder is not None else None
    task = _validate(body, policy, runtime.settings.max_query_length, dense_size)

    supplied = body.request_id is not None or header_request_id is not None
    try:
        with readers:  # a publisher in this process hands the GIL over while retrievals are going on
            return _retrieve_and_record(runtime, principal, body, task, policy, request_id, supplied, dense_size,
                                        started)
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
    return runtime.audit_batch


def _retrieve_and_record(runtime: Runtime, principal: Principal, body: RetrieveRequest, task: TaskClass,
                         policy: Policy, request_id: str, supplied: bool, dense_size: int | None,
                         started: float) -> Answer:
    budget = runtime.settings.db_timeout
    for attempt in range(ATTEMPTS - 1):
        if attempt and time.perf_counter() - started >= budget:
            break  # no time for another race: the locked attempt answers 503 at once
        with read_connection(runtime.sessions) as conn:
            # An id the service made is new (a ULID); only one the client chose may be in use already.
            if supplied and conn.scalar(_REQUEST_ID_USED, {"request_id": request_id}) is not None:
                raise Conflict(f"request id {request_id!r} is in use; send another one or none")
            made = answer(runtime, conn, body, task, policy, request_id, dense_size)
        try:
            written = _group_commit(runtime).submit(_pending_record(runtime, made, principal, body, task, started))
        except Exception as exc:
            # A deadlock or serialisation failure: the answer is made again, after a short random pause.
            if not is_transient(exc) or time.perf_counter() - started >= budget:
                raise
            log.info("retrieval %s: %s; answering again", request_id, type(exc).__name__)
            backoff(attempt)
            continue
        if written:
            return made
        log.info("retrieval %s: a snapshot it served changed state meanwhile; answering again", request_id)
    log.info("retrieval %s: answering under the sources' locks", request_id)
    return answer_under_locks(runtime, principal, body, task, policy, request_id, dense_size, started)


def _pending_record(runtime: Runtime, made: Answer, principal: Principal, body: RetrieveRequest, task: TaskClass,
                    started: float) -> PendingRecord:
    """The record of an optimistic answer, for the group commit: refused unless every snapshot the answer
    serves is still active in the transaction that would hold it (retrieval.active)."""
    budget = runtime.settings.db_timeout
    served = made.served_snapshot_ids
    tries = 0

    def record() -> RecordInput:
        nonlocal tries
        tries += 1
        if tries > 1 and time.perf_counter() - started > budget:
            # The group's transaction failed and its records are tried one by one: past the timeout,
            # answer 503 now rather than queue behind a database that has just failed.
            raise DatabaseUnavailable("the audit record could not be written within FRESHNESS_DB_TIMEOUT,"
                                      " so no context is served; retry shortly")
        latency_ms = int((time.perf_counter() - started) * 1000)
        return record_input(made, principal, body, task, runtime.settings.hash_query_text, latency_ms)

    return PendingRecord(record, frozenset(served))


def _dense_size(runtime: Runtime) -> int | None:
    """The collection's dense size. Once set it never changes, so it is read once per process."""
    size = runtime.dense_size_known
    if size is None:
        with read_scope(runtime.sessions) as session:
            value = state_value(session, DENSE_SIZE_KEY)
        size = int(value) if value else None
        if size is not None:
            runtime.dense_size_known = size
    return size
