"""What the store holds of a snapshot: the points its chunk rows name (a kept document's points are shared
with the snapshots before it)."""

from __future__ import annotations

from sqlalchemy import select

from freshness.db import session_scope
from freshness.models import Chunk
from freshness.runtime import Runtime


def points_held(runtime: Runtime, snapshot_id: str) -> int:
    """How many of the points the snapshot's chunk rows name are in the store."""
    with session_scope(runtime.sessions) as session:
        named = sorted(set(session.scalars(select(Chunk.point_id).where(Chunk.snapshot_id == snapshot_id))))
    return runtime.store.held(set(named))
