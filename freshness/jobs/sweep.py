"""The freshness sweep: judge every live source now, log the ones that need attention."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from freshness.db import session_scope
from freshness.runtime import Runtime
from freshness.sources.report import count_by_status, freshness_report

log = logging.getLogger("freshness.sweep")


def sweep(runtime: Runtime, keep_alive: Callable[[], None] = lambda: None) -> dict[str, int]:
    now = runtime.clock.now()
    with session_scope(runtime.sessions) as session:
        rows = freshness_report(session, runtime.policy.current, now)
    overdue = 0
    for row in rows:
        if row.status in ("stale", "expired", "failing"):
            log.warning("source %s is %s (age %ss, max age %ss)", row.source_id, row.status,
                        row.age_seconds, row.max_age_seconds)
        refresh = row.last_refresh
        # Overdue: the refresh should have run more than a minute ago and has not.
        if refresh and refresh.next_at and refresh.next_at < now - timedelta(minutes=1):
            overdue += 1
            log.warning("source %s is overdue for refresh since %s", row.source_id, refresh.next_at.isoformat())
    return {"sources": len(rows), **count_by_status(rows), "refresh_overdue": overdue}
