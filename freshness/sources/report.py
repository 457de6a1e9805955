"""The freshness report: per live source, how old its active content is and what that means.

Shared by `GET /v1/freshness`, `freshness status`, the sweep job and the source gauges of
`/metrics`, so that every view of a source's freshness agrees.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import cast, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from freshness.models import Snapshot, Source
from freshness.policy.model import Criticality, Policy
from freshness.policy.verdict import Freshness, judge_for_task
from freshness.refresh.reach import redact_uri
from freshness.sources.schemas import LastRefresh, ReportStatus, SourceFreshness
from freshness.sources.views import source_status

STATUSES: tuple[ReportStatus, ...] = get_args(ReportStatus)


def source_freshness(source: Source, active: Snapshot | None, policy: Policy, now: datetime) -> SourceFreshness:
    summary = source_status(source, active, policy, now)
    klass = policy.source_classes.get(source.source_class)
    users = [t for t in policy.task_classes.values() if t.allows(source.source_class)] if klass else []
    stale_for: list[str] = []
    if active is not None and klass is not None:
        for task in users:
            verdict = judge_for_task(task, klass, active.verified_at, active.valid_until, now)
            if verdict.freshness in (Freshness.STALE, Freshness.EXPIRED):
                stale_for.append(task.name)
    last = None
    if source.uri:
        last = LastRefresh(
            at=source.last_refresh_at,
            outcome=source.last_refresh_outcome,
            error=source.last_refresh_error,
            consecutive_failures=source.consecutive_failures or 0,
            next_at=source.next_refresh_at,
        )
    return SourceFreshness(
        id=source.id,
        source_id=source.id,
        title=source.title,
        owner=source.owner,
        source_class=source.source_class,
        status=cast(ReportStatus, summary.status),  # live sources only: never `retired`
        active_snapshot_id=active.id if active else None,
        snapshot_version=active.version if active else None,
        captured_at=active.captured_at if active else None,
        verified_at=active.verified_at if active else None,
        valid_until=active.valid_until if active else None,
        age_seconds=summary.age_seconds,
        max_age_seconds=summary.max_age_seconds,
        warn_age_seconds=summary.warn_age_seconds,
        strictest_max_age_seconds=summary.strictest_max_age_seconds,
        stale_for=sorted(stale_for),
        critical_task_classes=sorted(t.name for t in users if t.criticality is Criticality.CRITICAL),
        uri=redact_uri(source.uri),
        last_refresh_outcome=source.last_refresh_outcome,
        last_refresh=last,
    )


def freshness_report(
    session: Session,
    policy: Policy,
    now: datetime,
    *,
    status: str | None = None,
    source_class: str | None = None,
    owner: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[SourceFreshness]:
    """Live sources in id order. `status` filters after judging, so pages may hold fewer than `limit`."""
    query = (
        select(Source, Snapshot)
        .outerjoin(Snapshot, Snapshot.id == Source.active_snapshot_id)
        .where(Source.retired_at.is_(None))
        .order_by(Source.id)
    )
    if source_class:
        query = query.where(Source.source_class == source_class)
    if owner:
        query = query.where(Source.owner == owner)
    if after:
        query = query.where(Source.id > after)
    if limit is not None:
        query = query.limit(limit)
    rows = [source_freshness(source, active, policy, now) for source, active in session.execute(query)]
    if status:
        rows = [row for row in rows if row.status == status]
    return rows


def count_by_status(rows: list[SourceFreshness]) -> dict[str, int]:
    counted = Counter(row.status for row in rows)
    return {name: counted.get(name, 0) for name in STATUSES}
