"""Purge: superseded snapshots older than the retention period lose their vectors (and old job runs go).

Their rows, documents and chunk texts stay, so audit lookups still show what was served.
The state changes first (a purged snapshot can no longer be activated), then the points go;
if deleting them fails, reconciliation removes them later as points of no live snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import cast

from sqlalchemy import CursorResult, select, update

from freshness.db import session_scope
from freshness.jobs.runner import prune_runs
from freshness.models import Snapshot, SnapshotState
from freshness.runtime import Runtime

log = logging.getLogger("freshness.purge")


def purge_superseded(runtime: Runtime, keep_alive: Callable[[], None] = lambda: None) -> dict[str, int]:
    now = runtime.clock.now()
    cutoff = now - timedelta(seconds=runtime.settings.purge_retention_seconds)
    with session_scope(runtime.sessions) as session:
        candidates = list(session.scalars(
            select(Snapshot.id)
            .where(Snapshot.state == SnapshotState.SUPERSEDED, Snapshot.superseded_at <= cutoff)
            .order_by(Snapshot.superseded_at)
        ))
    purged = points = 0
    for snapshot_id in candidates:
        keep_alive()
        with session_scope(runtime.sessions) as session:
            # Guarded by the state: a snapshot rolled back to a moment ago is active again and stays.
            changed = cast(CursorResult, session.execute(
                update(Snapshot)
                .where(Snapshot.id == snapshot_id, Snapshot.state == SnapshotState.SUPERSEDED)
                .values(state=SnapshotState.PURGED, purged_at=now)
            )).rowcount
        if not changed:
            continue
        before = runtime.store.count(snapshot_id)
        runtime.store.delete_snapshot(snapshot_id)
        purged += 1
        points += before
        log.info("purged snapshot %s (%d points)", snapshot_id, before)
    return {"snapshots_purged": purged, "points_deleted": points, "job_runs_pruned": prune_runs(runtime)}
