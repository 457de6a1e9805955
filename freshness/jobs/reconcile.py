"""Reconciliation: make the store hold exactly what the database says it should.

The database is the authority. For every active snapshot, chunks without a point are indexed
again from their text in the database, and points whose payload no longer matches (a source field)
are written again. Points that no chunk row of an ingesting, active or superseded snapshot names are
deleted. Then every point's dead mark is made to agree with the active snapshots (sources.serving).

The store is read before the database: a point seen in the scroll was written by a publish whose
snapshot row was committed before it, so it is never mistaken for an orphan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from freshness.db import session_scope, transaction
from freshness.models import Chunk, Snapshot, SnapshotState, Source
from freshness.models.sources import chunk_text
from freshness.runtime import Runtime
from freshness.sources.lifecycle import point_payload
from freshness.sources.service import get_source
from freshness.sources.serving import mark_unserved
from freshness.vectorstore import ChunkPoint
from freshness.vectorstore.base import WRITTEN_BY, all_payloads
from freshness.vectorstore.embedders import bm25_document

log = logging.getLogger("freshness.reconcile")
PAGE = 1_000
LIVE_STATES = (SnapshotState.INGESTING, SnapshotState.ACTIVE, SnapshotState.SUPERSEDED)


def _differs(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    for key, value in expected.items():
        if key == WRITTEN_BY:
            continue
        got = actual.get(key)
        if key == "tags":
            if sorted(got or []) != sorted(value):
                return True
        elif got != value:
            return True
    return False


def _repair(session: Session, runtime: Runtime, source_id: str, snapshot_id: str, changed: list[str],
            expected: dict[str, tuple[Any, dict[str, Any]]], seen: dict[str, dict[str, Any]]) -> int:
    """Rewrite the points whose payload differs, under the source's lock, so that a change of the source's
    fields cannot slip in between. Skipped (for the next run) when the snapshot is no longer active. The
    points are the active snapshot's, so they are written without a dead mark, keeping the snapshot that
    wrote them."""
    source = get_source(session, source_id, for_update=True)
    if source.active_snapshot_id != snapshot_id:
        return 0
    store = runtime.store
    vectors = store.vectors(changed)
    rewritten = [
        ChunkPoint(pid, vectors[pid][0], vectors[pid][1],
                   {**expected[pid][1], WRITTEN_BY: seen[pid].get(WRITTEN_BY) or expected[pid][1][WRITTEN_BY]})
        for pid in changed if pid in vectors
    ]
    store.upsert(rewritten)
    return len(rewritten)


def reconcile(runtime: Runtime, keep_alive: Callable[[], None] = lambda: None) -> dict[str, int]:
    store = runtime.store
    points = all_payloads(store, PAGE, keep_alive)

    with session_scope(runtime.sessions) as session:
        named = set(session.scalars(
            select(Chunk.point_id).join(Snapshot, Snapshot.id == Chunk.snapshot_id)
            .where(Snapshot.state.in_(LIVE_STATES)).distinct()
        ))
        active = list(session.execute(
            select(Snapshot, Source).join(Source, Source.id == Snapshot.source_id)
            .where(Snapshot.state == SnapshotState.ACTIVE)
        ).all())

    orphans = [pid for pid in points if pid not in named]
    for start in range(0, len(orphans), PAGE):
        store.delete_ids(orphans[start : start + PAGE])
    if orphans:
        log.warning("deleted %d points that belong to no live snapshot", len(orphans))

    missing_total = reindexed = without_dense = repaired = 0
    for snapshot, source in active:
        keep_alive()
        with session_scope(runtime.sessions) as session:
            chunks = list(session.execute(
                select(Chunk.point_id, Chunk.document_id, chunk_text().label("text"))
                .where(Chunk.snapshot_id == snapshot.id)
            ))
        expected = {c.point_id: (c, point_payload(source, snapshot.id, c.document_id)) for c in chunks}
        missing = [c for pid, (c, _) in expected.items() if pid not in points]
        changed = [pid for pid, (_, want) in expected.items() if pid in points and _differs(want, points[pid])]
        missing_total += len(missing)
        if missing:
            # Look again right before writing: a point that appeared since the scroll is left alone.
            present = store.vectors([c.point_id for c in missing])
            missing = [c for c in missing if c.point_id not in present]
        for start in range(0, len(missing), runtime.settings.write_batch):
            batch = missing[start : start + runtime.settings.write_batch]
            dense: list[list[float] | None] = [None] * len(batch)
            if snapshot.has_dense:
                # The publisher's own vectors cannot be made again; BM25 still finds these chunks.
                without_dense += len(batch)
            elif runtime.embedder is not None:
                dense = list(runtime.embedder.embed([c.text for c in batch]))
            store.upsert([
                ChunkPoint(c.point_id, bm25_document(c.text), vector, expected[c.point_id][1])
                for c, vector in zip(batch, dense, strict=True)
            ])
            reindexed += len(batch)
        if changed:
            done = transaction(runtime.sessions, lambda session, snapshot_id=snapshot.id, source_id=source.id,
                               changed=changed, expected=expected: _repair(  # type: ignore[misc]
                                   session, runtime, source_id, snapshot_id, changed, expected, points))
            repaired += done
            if done:
                log.warning("snapshot %s: %d points had a payload that differs from the database; rewritten",
                            snapshot.id, done)
        if missing:
            log.warning("snapshot %s: %d chunks had no point; indexed again from the database",
                        snapshot.id, len(missing))
    keep_alive()
    for pid in orphans:
        points.pop(pid, None)
    revived, marked_dead = transaction(runtime.sessions, lambda session: mark_unserved(session, store, points))
    if revived:
        log.warning("%d points of active snapshots were marked as served by none; mark removed", revived)
    return {
        "points_checked": len(points),
        "snapshots_checked": len(active),
        "points_missing": missing_total,
        "points_reindexed": reindexed,
        "reindexed_without_dense": without_dense,
        "payloads_changed": repaired,
        "orphans_deleted": len(orphans),
        "points_marked_served": revived,
        "points_marked_dead": marked_dead,
    }
