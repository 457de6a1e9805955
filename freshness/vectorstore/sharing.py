"""Points shared by the snapshots of a source: a point lists the snapshots it serves.

A publish that keeps a document unchanged makes the points of the active snapshot's copy of it serve
the new snapshot too, by rewriting their list to those two (sources.indexing.share_points), so the
earlier snapshots that held them leave the list. A retained snapshot that serves again first puts
itself back on its points' lists (`restore_serving`).
"""

from __future__ import annotations

from freshness.vectorstore.base import VectorStore


def restore_serving(store: VectorStore, snapshot_id: str, point_ids: list[str]) -> int:
    """A retained snapshot about to serve again: its points list it again. Returns how many had lost it.
    Points the store lacks are left to reconciliation, which indexes an active snapshot's missing chunks."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for point_id, serves in store.snapshot_lists(point_ids).items():
        if snapshot_id not in serves:
            groups.setdefault(tuple(sorted({*serves, snapshot_id})), []).append(point_id)
    for serves_now, ids in groups.items():
        store.set_snapshot_lists(ids, list(serves_now))
    return sum(len(ids) for ids in groups.values())
