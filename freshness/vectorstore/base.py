"""What the service needs from a vector store, and nothing more."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

SPARSE = "bm25"
DENSE = "dense"
# Reciprocal rank fusion of the BM25 and dense rankings, the same in every adapter so that an answer
# does not depend on which store holds the chunks (60: the constant of the original RRF paper).
RRF_K = 60
# Payload fields that search filters use; each gets a keyword index. A point is written by one snapshot's
# publish (`snapshot_id`) and serves every snapshot of its source that kept its chunk (`snapshots`, a list
# that later publishes of the source extend); a search matches `snapshots` against the active ones.
WRITTEN_BY = "snapshot_id"
SNAPSHOTS = "snapshots"
INDEXED_FIELDS = (WRITTEN_BY, SNAPSHOTS, "source_id", "source_class", "tags", "document_id")


@dataclass(frozen=True)
class SparseVec:
    indices: list[int]
    values: list[float]


@dataclass
class ChunkPoint:
    id: str
    sparse: SparseVec
    dense: list[float] | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class SearchFilter:
    """Conditions ANDed together; an empty list means "no condition" except for snapshot_ids, which a point
    matches when one of them is in its `snapshots`."""

    snapshot_ids: list[str]
    source_ids: list[str] = field(default_factory=list)
    source_classes: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


@runtime_checkable
class VectorStore(Protocol):
    """One collection of chunk points keyed by point id (`chunks.point_id`)."""

    def ensure_dense(self, size: int) -> None: ...

    def upsert(self, points: list[ChunkPoint]) -> None: ...

    def vectors(self, ids: list[str]) -> dict[str, tuple[SparseVec, list[float] | None]]: ...

    def delete_ids(self, ids: list[str]) -> None: ...

    def delete_written_by(self, snapshot_id: str) -> None:
        """Delete the points this snapshot's publish wrote (not those it shares with earlier snapshots)."""

    def snapshot_lists(self, ids: list[str]) -> dict[str, list[str]]:
        """point id -> the snapshots its payload says it serves (points not in the store are left out)."""
        ...

    def set_snapshot_lists(self, ids: list[str], snapshots: list[str]) -> None:
        """Make these points serve exactly these snapshots."""

    def share(self, source_id: str, serving: str, dropped_documents: list[str], snapshots: list[str]) -> int:
        """The points of the source that serve `serving`, except those of the dropped documents, serve
        exactly `snapshots` from now on, in one write. Returns how many points that is."""
        ...

    def set_payload_for_source(self, source_id: str, payload: dict[str, Any]) -> None: ...

    def search(
        self,
        sparse: SparseVec | None,
        dense: list[float] | None,
        where: SearchFilter,
        limit: int,
    ) -> list[Hit]: ...

    def count(self, snapshot_id: str | None = None) -> int:
        """Every point, or the points that serve this snapshot."""
        ...

    def scroll_ids(self, offset: str | None, limit: int) -> tuple[list[tuple[str, dict[str, Any]]], str | None]: ...

    def unindexed_count(self) -> int: ...

    def optimize(self) -> bool: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


def backfill_snapshot_lists(store: VectorStore, page: int = 1_000) -> int:
    """A store written before points were shared: each point serves the one snapshot that wrote it.
    Returns how many points were given their list."""
    groups: dict[str, list[str]] = {}
    offset: str | None = None
    while True:
        rows, offset = store.scroll_ids(offset, page)
        for point_id, payload in rows:
            if SNAPSHOTS not in payload and isinstance(payload.get(WRITTEN_BY), str):
                groups.setdefault(payload[WRITTEN_BY], []).append(point_id)
        if offset is None:
            break
    for snapshot_id, ids in groups.items():
        for start in range(0, len(ids), page):
            store.set_snapshot_lists(ids[start : start + page], [snapshot_id])
    return sum(len(ids) for ids in groups.values())
