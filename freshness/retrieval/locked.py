"""The last attempt of a retrieval: answered while no source it may use can change state.

The optimistic attempts answer from a read and check afterwards; under steady publishing a slow
answer can lose that race every time. This one takes the locks first, so it cannot lose it:

- PostgreSQL: the rows of the sources the task may use are share-locked, in id order (the order every
  writer takes them: source row, then its snapshots), before the active snapshots are read. Every
  change of which snapshot is active (publish, activate, retire) is made under an update lock of its
  source row, so until this transaction commits the answer's sources keep their active snapshots.
  A source that was not locked (registered or first published meanwhile) is left out.
- SQLite: the write transaction (BEGIN IMMEDIATE, after the process's writer queue) already keeps
  every writer out until it ends.

The answer, its search and its audit record happen in that one transaction. The record is appended
alone, not through the group commit, but takes the chain head the same way (write_record locks it),
so the chain stays linear; it commits before the response leaves.
"""

from __future__ import annotations

import time

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from freshness.audit.writer import write_record
from freshness.auth.keys import Principal
from freshness.db import session_scope
from freshness.dbfaults import DatabaseUnavailable, retrying
from freshness.errors import Conflict
from freshness.models import Retrieval, Source
from freshness.policy.model import Policy, TaskClass
from freshness.retrieval.answer import Answer, answer, source_conditions
from freshness.retrieval.audit_input import record_input
from freshness.retrieval.schemas import RetrieveRequest
from freshness.runtime import Runtime


def answer_under_locks(runtime: Runtime, principal: Principal, body: RetrieveRequest, task: TaskClass,
                       policy: Policy, request_id: str, dense_size: int | None, started: float) -> Answer:
    """Answer and record in one transaction that holds the candidate sources' locks.

    Bounded by what is left of FRESHNESS_DB_TIMEOUT since `started`: a lock wait past it answers
    503, and a deadlock is tried again only while time is left."""
    budget = runtime.settings.db_timeout

    def once() -> Answer:
        left = budget - (time.perf_counter() - started)
        if left <= 0:
            raise DatabaseUnavailable("the retrieval took longer than FRESHNESS_DB_TIMEOUT, so no context is"
                                      " served; retry shortly")
        with session_scope(runtime.sessions) as session:
            return _answer_and_record(runtime, session, principal, body, task, policy, request_id, dense_size,
                                      started, left)

    return retrying(once, budget=budget - (time.perf_counter() - started))


def _answer_and_record(runtime: Runtime, session: Session, principal: Principal, body: RetrieveRequest,
                       task: TaskClass, policy: Policy, request_id: str, dense_size: int | None, started: float,
                       left: float) -> Answer:
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        # The statement timeout would let a lock wait run the whole budget again; only what is left may go.
        session.execute(text(f"SET LOCAL lock_timeout = {max(1, int(left * 1000))}"))
    if session.scalar(select(Retrieval.request_id).where(Retrieval.request_id == request_id)) is not None:
        raise Conflict(f"request id {request_id!r} is in use; send another one or none")
    among = _lock_sources(session, task, body) if postgres else None
    made = answer(runtime, session, body, task, policy, request_id, dense_size, among)
    latency_ms = int((time.perf_counter() - started) * 1000)
    write_record(session, record_input(made, principal, body, task, runtime.settings.hash_query_text, latency_ms))
    return made


def _lock_sources(session: Session, task: TaskClass, body: RetrieveRequest) -> list[str]:
    """Share-lock the sources the answer may use, in id order; returns their ids.

    Only the source rows, in a statement of their own: joined to snapshots, a row updated while
    this waited would be checked again against the snapshot row read before, and be dropped."""
    query = (
        select(Source.id)
        .where(Source.active_snapshot_id.is_not(None), *source_conditions(task, body))
        .order_by(Source.id)
        .with_for_update(read=True, of=Source)
    )
    return list(session.scalars(query))
