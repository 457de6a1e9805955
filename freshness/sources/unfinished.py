"""Publishes that did not finish: marked failed, the points they wrote removed, so that the source can be
published again (one unfinished publish per source blocks the next with a 409). The points they shared
with earlier snapshots stay; their lists still name the failed snapshot, which no retrieval matches
(it is never active) and the source's next publish drops."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from freshness.db import session_scope
from freshness.errors import FreshnessError
from freshness.models import Snapshot, SnapshotState
from freshness.runtime import Runtime
from freshness.sources.lifecycle import fail

log = logging.getLogger("freshness.publish")
STALE_HEARTBEAT = timedelta(minutes=10)


def fail_publish(runtime: Runtime, snapshot_id: str, exc: BaseException) -> None:
    """Mark the snapshot `failed` because of `exc` and remove its points; the caller raises `exc`."""
    reason = exc.detail if isinstance(exc, FreshnessError) else f"{type(exc).__name__}: {exc}"
    try:
        with session_scope(runtime.sessions) as session:
            snapshot = session.get(Snapshot, snapshot_id)
            if snapshot is not None:
                fail(session, snapshot, reason, runtime.clock.now())
    except Exception as fail_exc:
        # The database refuses this write too (full, down): the caller still sees the first error, and
        # the next publish of the source ends the snapshot, which would otherwise block it with a 409.
        log.warning("could not mark snapshot %s failed: %s", snapshot_id, fail_exc)
        abandoned(runtime).add(snapshot_id)
    finally:
        runtime.store.delete_written_by(snapshot_id)


def abandoned(runtime: Runtime) -> set[str]:
    """Ids of this process's failed publishes that the database would not let it mark failed."""
    return runtime.abandoned_publishes


def end_abandoned(session: Session, runtime: Runtime, source_id: str) -> list[str]:
    """In the next publish's transaction: mark this source's abandoned publishes failed. Returns their
    ids, to forget once that transaction has committed."""
    ids = list(abandoned(runtime))
    if not ids:
        return []
    mine = list(session.scalars(select(Snapshot).where(Snapshot.id.in_(ids), Snapshot.source_id == source_id)))
    for snapshot in mine:
        fail(session, snapshot, "the publish failed while the database refused writes", runtime.clock.now())
    return [snapshot.id for snapshot in mine]


def recover_unfinished(runtime: Runtime, *, all_ingesting: bool) -> list[str]:
    """Mark publishes that a dead process left `ingesting` as failed and remove their points.

    With the embedded store only this process can be publishing, so every ingesting snapshot is
    unfinished; with a shared store, only those whose heartbeat stopped long ago.
    """
    now = runtime.clock.now()
    with session_scope(runtime.sessions) as session:
        query = select(Snapshot).where(Snapshot.state == SnapshotState.INGESTING)
        if not all_ingesting:
            query = query.where(Snapshot.heartbeat_at < now - STALE_HEARTBEAT)
        stuck = list(session.scalars(query))
        for snapshot in stuck:
            fail(session, snapshot, "the publish was interrupted (process stopped) and never activated", now)
        ids = [s.id for s in stuck]
    for snapshot_id in ids:
        runtime.store.delete_written_by(snapshot_id)
    return ids
