"""Qdrant Edge: the embedded default, one shard on disk in the data dir, owned by one process."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, cast

import qdrant_edge as qe

from freshness.errors import StoreLocked, Unavailable
from freshness.vectorstore.base import (
    DENSE,
    INDEXED_FIELDS,
    RRF_K,
    SNAPSHOTS,
    SPARSE,
    WRITTEN_BY,
    ChunkPoint,
    Hit,
    SearchFilter,
    SparseVec,
    backfill_snapshot_lists,
)
from freshness.vectorstore.handover import hand_over

# The binding holds the GIL for a whole write: at most this many points per call, and a thread switch
# between calls, so that a retrieval waits for one short write, not for a publisher's whole batch.
WRITE_SLICE = 32
LIST_SLICE = 256  # points whose snapshot list one call rewrites (a payload write costs a tenth of a point's)


def _uuid_str(value: Any) -> str:
    return str(value)


class EdgeStore:
    def __init__(self, path: Path, vector_size: int | None = None) -> None:
        self.path = path
        self._dense: int | None = None
        self._lock = threading.RLock()
        path.mkdir(parents=True, exist_ok=True)
        try:
            if any(path.iterdir()):
                self.shard = qe.EdgeShard.load(str(path))
            else:
                config = qe.EdgeConfig(
                    vectors={},
                    sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
                )
                self.shard = qe.EdgeShard.create(str(path), config)
        except Exception as exc:
            # qdrant-edge raises a bare Exception for every failure: a shard that another process holds
            # shows only in its text ("Can't init WAL: Kind(WouldBlock)").
            if "WouldBlock" in str(exc) or "lock" in str(exc).lower():
                raise StoreLocked(
                    f"the embedded store at {path} is in use by another process (is `freshness serve` running?);"
                    " use the HTTP API instead"
                ) from exc
            raise Unavailable(f"cannot open the embedded store at {path}: {exc}") from exc
        schema = self.shard.info().payload_schema
        if SNAPSHOTS not in schema:
            # Before its index: a backfill cut short is done again at the next start.
            backfill_snapshot_lists(self)
        for name in INDEXED_FIELDS:
            if name not in schema:
                self.shard.update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Keyword))
        if vector_size:
            self.ensure_dense(vector_size)

    # -- schema ---------------------------------------------------------------------------------
    def ensure_dense(self, size: int) -> None:
        with self._lock:
            if self._dense == size:
                return
            # Idempotent for the same size; a different size is refused by the shard.
            try:
                self.shard.update(qe.UpdateOperation.create_dense_vector(DENSE, size, qe.Distance.Cosine))
            except Exception as exc:  # the binding raises a plain exception; report it as the server adapter does
                raise Unavailable(
                    f"the embedded store at {self.path} cannot hold dense vectors of size {size}: {exc}"
                ) from exc
            self._dense = size

    # -- writes ---------------------------------------------------------------------------------
    def upsert(self, points: list[ChunkPoint]) -> None:
        batch = []
        for p in points:
            vector: dict[str, Any] = {SPARSE: qe.SparseVector(p.sparse.indices, p.sparse.values)}
            if p.dense is not None:
                vector[DENSE] = p.dense
            batch.append(qe.Point(p.id, vector, p.payload))
        for start in range(0, len(batch), WRITE_SLICE):
            if start:
                hand_over()  # let a waiting retrieval have the GIL
            with self._lock:
                self.shard.update(qe.UpdateOperation.upsert_points(batch[start : start + WRITE_SLICE]))

    def delete_ids(self, ids: list[str]) -> None:
        if ids:
            with self._lock:
                self.shard.update(qe.UpdateOperation.delete_points(list(ids)))

    def delete_written_by(self, snapshot_id: str) -> None:
        with self._lock:
            self.shard.update(qe.UpdateOperation.delete_points_by_filter(_match(WRITTEN_BY, [snapshot_id])))

    def set_snapshot_lists(self, ids: list[str], snapshots: list[str]) -> None:
        for start in range(0, len(ids), LIST_SLICE):
            if start:
                hand_over()
            with self._lock:
                some: list[Any] = ids[start : start + LIST_SLICE]
                self.shard.update(qe.UpdateOperation.set_payload(some, {SNAPSHOTS: list(snapshots)}))

    def set_payload_for_source(self, source_id: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self.shard.update(qe.UpdateOperation.set_payload_by_filter(_match("source_id", [source_id]), payload))

    def share(self, source_id: str, serving: str, dropped_documents: list[str], snapshots: list[str]) -> int:
        flt = qe.Filter(
            must=[qe.FieldCondition("source_id", match=qe.MatchAny([source_id])),
                  qe.FieldCondition(SNAPSHOTS, match=qe.MatchAny([serving]))],
            must_not=[qe.FieldCondition("document_id", match=qe.MatchAny(list(dropped_documents)))]
            if dropped_documents else None,
        )
        with self._lock:
            count = self.shard.count(qe.CountRequest(exact=True, filter=flt))
            self.shard.update(qe.UpdateOperation.set_payload_by_filter(flt, {SNAPSHOTS: list(snapshots)}))
        return count

    # -- reads ----------------------------------------------------------------------------------
    def snapshot_lists(self, ids: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for start in range(0, len(ids), LIST_SLICE * 4):
            some: list[Any] = ids[start : start + LIST_SLICE * 4]
            records = self.shard.retrieve(some, with_payload=qe.PayloadSelector.Include([SNAPSHOTS]), with_vector=False)
            for record in records:
                out[_uuid_str(record.id)] = list((record.payload or {}).get(SNAPSHOTS) or [])
        return out

    def vectors(self, ids: list[str]) -> dict[str, tuple[SparseVec, list[float] | None]]:
        if not ids:
            return {}
        out: dict[str, tuple[SparseVec, list[float] | None]] = {}
        for record in self.shard.retrieve(list(ids), with_payload=False, with_vector=True):
            # the collection has named vectors only, so a record's vector is the name -> vector mapping
            vec = cast(dict[str, Any], record.vector or {})
            sparse = vec.get(SPARSE)
            if sparse is None:
                continue
            out[_uuid_str(record.id)] = (SparseVec(list(sparse.indices), list(sparse.values)), vec.get(DENSE))
        return out

    def search(self, sparse: SparseVec | None, dense: list[float] | None, where: SearchFilter, limit: int) -> list[Hit]:
        flt = _filter(where)
        sparse_q = qe.Query.Nearest(qe.SparseVector(sparse.indices, sparse.values), using=SPARSE) if sparse else None
        dense_q = qe.Query.Nearest(dense, using=DENSE) if dense is not None else None
        if sparse_q is not None and dense_q is not None:
            request = qe.QueryRequest(
                limit=limit,
                prefetches=[
                    qe.Prefetch(limit=limit, query=sparse_q, filter=flt),
                    qe.Prefetch(limit=limit, query=dense_q, filter=flt),
                ],
                query=qe.Fusion.Rrf(k=RRF_K),  # type: ignore[arg-type]  # the stub omits Fusion.Rrf from the query union
                filter=flt,
                with_payload=True,
            )
        else:
            request = qe.QueryRequest(limit=limit, query=sparse_q or dense_q, filter=flt, with_payload=True)
        points = self.shard.query(request)
        return [Hit(_uuid_str(p.id), float(p.score), dict(p.payload or {})) for p in points]

    def count(self, snapshot_id: str | None = None) -> int:
        flt = _match(SNAPSHOTS, [snapshot_id]) if snapshot_id else None
        return self.shard.count(qe.CountRequest(exact=True, filter=flt))

    def scroll_ids(self, offset: str | None, limit: int) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
        records, next_offset = self.shard.scroll(
            qe.ScrollRequest(offset=offset, limit=limit, with_payload=True, with_vector=False)
        )
        rows = [(_uuid_str(r.id), dict(r.payload or {})) for r in records]
        return rows, (_uuid_str(next_offset) if next_offset is not None else None)

    def unindexed_count(self) -> int:
        info = self.shard.info()
        if self._dense is None:
            return 0
        return max(0, info.points_count - info.indexed_vectors_count)

    def optimize(self) -> bool:
        with self._lock:
            return bool(self.shard.optimize())

    def ping(self) -> None:
        self.shard.info()

    def close(self) -> None:
        with self._lock:
            try:
                self.shard.flush()
            finally:
                self.shard.close()


def _match(key: str, values: list[str]) -> qe.Filter:
    return qe.Filter(must=[qe.FieldCondition(key, match=qe.MatchAny(list(values)))])


def _filter(where: SearchFilter) -> qe.Filter:
    must: list[Any] = [qe.FieldCondition(SNAPSHOTS, match=qe.MatchAny(list(where.snapshot_ids)))]
    if where.source_ids:
        must.append(qe.FieldCondition("source_id", match=qe.MatchAny(list(where.source_ids))))
    if where.source_classes:
        must.append(qe.FieldCondition("source_class", match=qe.MatchAny(list(where.source_classes))))
    if where.tags:
        must.append(qe.FieldCondition("tags", match=qe.MatchAny(list(where.tags))))
    return qe.Filter(must=must)
