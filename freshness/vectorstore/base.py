"""What the service needs from a vector store, and nothing more."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

SPARSE = "bm25"
DENSE = "dense"
# Reciprocal rank fusion of the BM25 and dense rankings, the same in every adapter so that an answer
# does not depend on which store holds the chunks (60: the constant of the original RRF paper).
RRF_K = 60
# Payload fields that search filters use; each gets a keyword index. A point is written by one snapshot's
# publish (`snapshot_id`) and is shared by every later snapshot of its source that keeps its document, with
# no write. `dead_from` marks a point that no active snapshot serves from that serving sequence number on (a
# changed document's earlier version, a point of a snapshot rolled back from): sources.serving.
WRITTEN_BY = "snapshot_id"
DEAD_FROM = "dead_from"  # an integer index; a point without it is served
SOURCE_ID = "source_id"  # a point's source, set when it is written (only reconciliation's repair writes it again)
INDEXED_FIELDS = (WRITTEN_BY, SOURCE_ID, "source_class", "tags", "document_id")


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
    """Conditions ANDed together; an empty list means "no condition".

    `served_at`: the serving sequence number the active set was read at: points dead from it or before are
    left out. `hidden_writers`: snapshots whose publish is in progress: the points they wrote are left out."""

    served_at: int = 0
    hidden_writers: list[str] = field(default_factory=list)
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

    def held(self, ids: set[str]) -> int:
        """How many of these points the store holds (a count: no point is read)."""
        ...

    def mark_dead(self, ids: list[str], seq: int) -> None:
        """These points are served by no active snapshot from serving sequence number `seq` on."""

    def mark_served(self, ids: list[str]) -> None:
        """These points are served again: their mark goes."""

    def dead_index_missing(self) -> bool:
        """A store written before points were marked: sources.serving.mark_unserved marks them, then the
        caller indexes the mark (`index_dead`), so that a marking cut short is done again at the next start."""
        ...

    def index_dead(self) -> None: ...

    def set_payload_for_source(self, source_id: str, payload: dict[str, Any]) -> None: ...

    def search(
        self,
        sparse: SparseVec | None,
        dense: list[float] | None,
        where: SearchFilter,
        limit: int,
        fields: list[str] | None = None,
    ) -> list[Hit]:
        """The best `limit` points that pass `where`; each hit carries the payload `fields` named (None: all)."""
        ...

    def warm_up(self, wait: bool = False) -> None:
        """Read ahead, in the background, what searches will need from the store, if the adapter keeps any of it
        in memory (`wait`: return once done); a process that serves retrievals calls it once it is open."""

    def count(self, source_id: str | None = None, dead: bool | None = None) -> int:
        """Every point, or those of one source, or those with (without) a dead mark."""
        ...

    def scroll_ids(self, offset: str | None, limit: int) -> tuple[list[tuple[str, dict[str, Any]]], str | None]: ...

    def unindexed_count(self) -> int: ...

    def optimize(self) -> bool: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


def all_payloads(store: VectorStore, page: int = 1_000,
                 after_page: Callable[[], None] = lambda: None) -> dict[str, dict[str, Any]]:
    """Every point of the store, id -> payload, read a page at a time (`after_page` runs after each)."""
    points: dict[str, dict[str, Any]] = {}
    offset: str | None = None
    while True:
        rows, offset = store.scroll_ids(offset, page)
        points.update(rows)
        after_page()
        if offset is None:
            return points
