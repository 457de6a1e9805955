"""Trust figures (SPEC §12) computed by the database with aggregates, never by loading records.

A retrieval belongs to a task class by its record; to a source or a snapshot when it served or
withheld one of its chunks (a fallback caused by withheld chunks counts against the content that
caused it). Definitions, per group over the records served in the window:

- fallback rate: `insufficient_context` retrievals / retrievals; flagged rate likewise.
- stale rejections: chunks withheld for being stale or expired (of that class, source or snapshot).
- outcomes: outcomes recorded for those retrievals; trusted completion: `accepted` / outcomes;
  escalation rate: `escalated` / outcomes.
- correction burden: the sum of `edit_seconds` over `accepted` and `edited` outcomes divided by their
  count, an `accepted` without `edit_seconds` counting 0.

A rate over nothing is null, not 0: "no outcomes yet" must not read as "never accepted".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select
from sqlalchemy.orm import Session

from freshness.models import Outcome, Retrieval, RetrievalChunk
from freshness.trust.schemas import TrustBy, TrustFigures


@dataclass(frozen=True)
class Counts:
    """The sums a group's figures are made from."""

    retrievals: int = 0
    fallbacks: int = 0
    flagged: int = 0
    stale_rejections: int = 0
    outcomes: int = 0
    accepted: int = 0
    corrected: int = 0  # accepted or edited
    edit_seconds: float = 0.0  # over accepted and edited
    escalated: int = 0

    def figures(self) -> TrustFigures:
        return TrustFigures(
            retrievals=self.retrievals,
            fallback_rate=_rate(self.fallbacks, self.retrievals),
            flagged_rate=_rate(self.flagged, self.retrievals),
            stale_rejections=self.stale_rejections,
            outcomes=self.outcomes,
            trusted_completion=_rate(self.accepted, self.outcomes),
            correction_burden=_rate(self.edit_seconds, self.corrected),
            escalation_rate=_rate(self.escalated, self.outcomes),
        )


def _rate(part: float, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 6)


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


_CORRECTED = Outcome.outcome.in_(("accepted", "edited"))


def _window(since: datetime, until: datetime, task_class: str | None) -> list[ColumnElement[bool]]:
    conditions = [Retrieval.served_at >= since, Retrieval.served_at <= until]
    if task_class is not None:
        conditions.append(Retrieval.task_class == task_class)
    return conditions


def _members(by: TrustBy, conditions: list[ColumnElement[bool]]) -> Select:
    """(group key, request id) once per retrieval of each group."""
    if by == "task_class":
        return select(Retrieval.task_class.label("key"), Retrieval.request_id.label("request_id")).where(*conditions)
    column = RetrievalChunk.source_id if by == "source" else RetrievalChunk.snapshot_id
    return (
        select(column.label("key"), RetrievalChunk.request_id.label("request_id"))
        .join(Retrieval, Retrieval.request_id == RetrievalChunk.request_id)
        .where(*conditions)
        .distinct()
    )


def group_counts(session: Session, by: TrustBy, since: datetime, until: datetime,
                 task_class: str | None = None) -> dict[str, Counts]:
    """Counts per group key (task class, source id or snapshot id) of the retrievals served in the window."""
    conditions = _window(since, until, task_class)
    members = _members(by, conditions).subquery()
    per_request = (
        select(
            members.c.key,
            func.count(),
            _count_if(Retrieval.status == "insufficient_context"),
            _count_if(Retrieval.status == "flagged"),
            func.count(Outcome.request_id),
            _count_if(Outcome.outcome == "accepted"),
            _count_if(_CORRECTED),
            func.coalesce(func.sum(case((_CORRECTED, func.coalesce(Outcome.edit_seconds, 0.0)), else_=0.0)), 0.0),
            _count_if(Outcome.outcome == "escalated"),
        )
        .select_from(members)
        .join(Retrieval, Retrieval.request_id == members.c.request_id)
        .outerjoin(Outcome, Outcome.request_id == members.c.request_id)
        .group_by(members.c.key)
    )
    counts = {
        row[0]: Counts(retrievals=row[1], fallbacks=row[2], flagged=row[3], outcomes=row[4], accepted=row[5],
                       corrected=row[6], edit_seconds=float(row[7]), escalated=row[8])
        for row in session.execute(per_request)
    }
    for key, rejected in session.execute(_rejections(by, conditions)):
        if key in counts:
            counts[key] = replace(counts[key], stale_rejections=rejected)
    return counts


def _rejections(by: TrustBy, conditions: list[ColumnElement[bool]]) -> Select:
    key = {"task_class": Retrieval.task_class, "source": RetrievalChunk.source_id,
           "snapshot": RetrievalChunk.snapshot_id}[by]
    return (
        select(key, func.count())
        .select_from(RetrievalChunk)
        .join(Retrieval, Retrieval.request_id == RetrievalChunk.request_id)
        .where(and_(*conditions), RetrievalChunk.kind == literal("rejected"))
        .group_by(key)
    )

