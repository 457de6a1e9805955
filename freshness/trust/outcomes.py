"""Recording what became of an answer: one outcome per retrieval, append-only.

Only the reader key that made the request (or an admin) may tell its outcome, so one application
cannot score another's answers. The row copies the record's task class and serve time, which trust
figures group and window by. A second outcome is refused, never merged: the first one stays.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from freshness.auth.keys import Principal, Role
from freshness.errors import Conflict, Forbidden, NotFound
from freshness.models import Outcome, Retrieval
from freshness.trust.schemas import OutcomeCreate, OutcomeOut

_RECORD = select(Retrieval.key_id, Retrieval.task_class, Retrieval.served_at)


def record_outcome(session: Session, principal: Principal, request_id: str, body: OutcomeCreate,
                   now: datetime) -> OutcomeOut:
    """Store the outcome in the caller's transaction; flushes so a duplicate is refused here."""
    record = session.execute(_RECORD.where(Retrieval.request_id == request_id)).first()
    if record is None:
        raise NotFound(f"no retrieval was recorded with request id {request_id!r}")
    if principal.role is not Role.ADMIN and principal.key_id != record.key_id:
        raise Forbidden("only the key that made the request, or an admin, may record its outcome")
    if session.get(Outcome, request_id) is not None:
        raise Conflict(f"an outcome is already recorded for request {request_id!r}; outcomes are not changed")
    row = Outcome(request_id=request_id, outcome=body.outcome, edit_seconds=body.edit_seconds, note=body.note,
                  key_id=principal.key_id, task_class=record.task_class, served_at=record.served_at,
                  recorded_at=now)
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:  # another outcome for the same request committed meanwhile
        raise Conflict(f"an outcome is already recorded for request {request_id!r}; outcomes are not changed") \
            from exc
    return outcome_out(row)


def outcome_out(row: Outcome) -> OutcomeOut:
    return OutcomeOut(request_id=row.request_id, outcome=row.outcome,  # type: ignore[arg-type]  # stored from the Literal
                      edit_seconds=row.edit_seconds, note=row.note, task_class=row.task_class,
                      recorded_at=row.recorded_at)
