"""What the service needs from a vector store, and nothing more."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

SPARSE = "bm25"
DENSE = "dense"
# Reciprocal rank fusion of the BM25 and dense rankings, the same in every adapter so that an answer
# does not depend on which store holds the chunks (60: the constant of the original RRF paper).
RRF_K = 60
# Payload fields that search filters use; each gets a keyword index.
INDEXED_FIELDS = ("snapshot_id", "source_id", "source_class", "tags", "document_id")


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
    """Conditions ANDed together; an empty list means "no condition" except for snapshot_ids."""

    snapshot_ids: list[str]
    source_ids: list[str] = field(default_factory=list)
    source_classes: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


@runtime_checkable
class VectorStore(Protocol):
    """One collection of chunk points keyed by chunk id."""

    def ensure_dense(self, size: int) -> None: ...

    def upsert(self, points: list[ChunkPoint]) -> None: ...

    def vectors(self, ids: list[str]) -> dict[str, tuple[SparseVec, list[float] | None]]: ...

    def delete_ids(self, ids: list[str]) -> None: ...

    def delete_snapshot(self, snapshot_id: str) -> None: ...

    def set_payload_for_source(self, source_id: str, payload: dict[str, Any]) -> None: ...

    def search(
        self,
        sparse: SparseVec | None,
        dense: list[float] | None,
        where: SearchFilter,
        limit: int,
    ) -> list[Hit]: ...

    def count(self, snapshot_id: str | None = None) -> int: ...

    def scroll_ids(self, offset: str | None, limit: int) -> tuple[list[tuple[str, dict[str, Any]]], str | None]: ...

    def unindexed_count(self) -> int: ...

    def optimize(self) -> bool: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...
