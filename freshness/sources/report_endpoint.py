"""GET /v1/freshness: the freshness report, one item per live source."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import QueryParameter

from freshness.api import CurrentPolicy, ReadSession, Service, ServiceClock, Store, problems
from freshness.sources.endpoints import ClassFilter, Cursor, Owner
from freshness.sources.report import count_by_status, freshness_report
from freshness.sources.schemas import FreshnessReport, ReportStatus
from freshness.sources.service import require_known_class


@get("/freshness", summary="Freshness of every live source", tags=["sources"], sync_to_thread=True,
     responses=problems(400, 401, 422, 503))
def freshness_endpoint(
    reads: ReadSession,
    policy: CurrentPolicy,
    clock: ServiceClock,
    store: Store,
    runtime: Service,
    status: Annotated[ReportStatus | None, QueryParameter(
        description="Only sources with this status; pages may then hold fewer items than `limit`")] = None,
    source_class: ClassFilter = None,
    owner: Owner = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000, description="Sources scanned per page")] = 100,
    cursor: Cursor = None,
) -> FreshnessReport:
    if source_class is not None:
        require_known_class(policy, source_class)
    after = (runtime.cursors.decode(cursor) or {}).get("after")
    now = clock.now()
    scanned = freshness_report(reads, policy, now, source_class=source_class, owner=owner, after=after,
                               limit=limit + 1)
    page = scanned[:limit]
    # Counts and blocked sources cover every source the filters select, not only this page.
    everything = freshness_report(reads, policy, now, source_class=source_class, owner=owner)
    try:
        unindexed: int | None = store.unindexed_count()
    except Exception:  # the report is about the database; a store hiccup must not hide it
        unindexed = None
    return FreshnessReport(
        items=[row for row in page if status is None or row.status == status],
        next_cursor=runtime.cursors.encode({"after": page[-1].source_id}) if len(scanned) > limit else None,
        generated_at=now,
        policy_version=policy.version,
        counts=count_by_status(everything),
        critical_blocked=sorted(row.source_id for row in everything if row.blocks_critical),
        points_not_indexed=unindexed,
    )
