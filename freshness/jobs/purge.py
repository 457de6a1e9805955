"""Purge: superseded snapshots older than the retention period lose their vectors (and old job runs go).

Their rows, documents and chunk texts stay, so audit lookups still show what was served.
The state changes first (a purged snapshot can no longer be activated), then the points go: those of
its chunk rows that no chunk row of a live (ingesting, active or superseded) snapshot names, since a
point serves every snapshot that kept its document. If deleting fails, reconciliation removes the points
later as points of no live snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import cast

from sqlalchemy import CompoundSelect, CursorResult, Table, except_, exists, select, update

from freshness.db import session_scope
from freshness.jobs.runner import prune_runs
from freshness.models import Chunk, Snapshot, SnapshotState
from freshness.runtime import Runtime

log = logging.getLogger("freshness.purge")
DELETE_PAGE = 1_000
LIVE_STATES = (SnapshotState.INGESTING, SnapshotState.ACTIVE, SnapshotState.SUPERSEDED)
_CHUNKS = cast(Table, Chunk.__table__)


def _points_no_live_snapshot_names(snapshot_id: str) -> CompoundSelect:
    """The points of the snapshot's chunk rows that no chunk row of a live snapshot of its source names (a
    point is shared only by the snapshots of one source): read snapshot by snapshot, through the index
    that starts with the snapshot."""
    source = select(Snapshot.source_id).where(Snapshot.id == snapshot_id).scalar_subquery()
    live = select(Snapshot.id).where(Snapshot.source_id == source, Snapshot.state.in_(LIVE_STATES))
    return except_(
        select(_CHUNKS.c.point_id).where(_CHUNKS.c.snapshot_id == snapshot_id),
        select(_CHUNKS.c.point_id).where(_CHUNKS.c.snapshot_id.in_(live)),
    )


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
            # A publish of the source in progress may be copying chunk rows that name these points from a
            # snapshot superseded since it began: its points are left to reconciliation.
            publishing = session.scalar(select(exists().where(
                Snapshot.source_id == select(Snapshot.source_id).where(Snapshot.id == snapshot_id).scalar_subquery(),
                Snapshot.state == SnapshotState.INGESTING)))
            gone = [] if not changed or publishing else list(
                session.scalars(_points_no_live_snapshot_names(snapshot_id)))
        if not changed:
            continue
        for start in range(0, len(gone), DELETE_PAGE):
            runtime.store.delete_ids(gone[start : start + DELETE_PAGE])
        purged += 1
        points += len(gone)
        log.info("purged snapshot %s (%d points)", snapshot_id, len(gone))
    return {"snapshots_purged": purged, "points_deleted": points, "job_runs_pruned": prune_runs(runtime)}
