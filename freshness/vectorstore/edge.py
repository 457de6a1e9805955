"""Qdrant Edge: the embedded default, one shard on disk in the data dir, owned by one process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import qdrant_edge as qe

from freshness.errors import StoreLocked, Unavailable
from freshness.vectorstore.base import (
    DEAD_FROM,
    DENSE,
    INDEXED_FIELDS,
    RRF_K,
    SOURCE_ID,
    SPARSE,
    WRITTEN_BY,
    ChunkPoint,
    Hit,
    SearchFilter,
    SparseVec,
)
from freshness.vectorstore.edge_sources import SourceMemory
from freshness.vectorstore.handover import hand_over

# The binding holds the GIL for a whole write: at most this many points per call, and a thread switch
# between calls, so that a retrieval waits for one short write, not for a publisher's whole batch.
WRITE_SLICE = 32
MARK_SLICE = 256  # points whose mark one call writes (a payload write costs a tenth of a point's)


def _uuid_str(value: Any) -> str:
    return str(value)


class EdgeStore:
    def __init__(self, path: Path, vector_size: int | None = None) -> None:
        self.path = path
        self._dense: int | None = None
        self._lock = threading.RLock()
        # Each point's source, for searches that ask only for that (`search`), forgotten as points are written.
        self.memory = SourceMemory(self._lock)
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
            try:
                with self._lock:
                    self.shard.update(qe.UpdateOperation.upsert_points(batch[start : start + WRITE_SLICE]))
            finally:  # also when the call failed after writing
                self.memory.forget(p.id for p in points[start : start + WRITE_SLICE])

    def delete_ids(self, ids: list[str]) -> None:
        if ids:
            try:
                with self._lock:
                    self.shard.update(qe.UpdateOperation.delete_points(list(ids)))
            finally:
                self.memory.forget(ids)

    def delete_written_by(self, snapshot_id: str) -> None:
        with self._lock:
            self.shard.update(qe.UpdateOperation.delete_points_by_filter(_match(WRITTEN_BY, [snapshot_id])))

    def mark_dead(self, ids: list[str], seq: int) -> None:
        self._mark(ids, lambda some: qe.UpdateOperation.set_payload(some, {DEAD_FROM: seq}))

    def mark_served(self, ids: list[str]) -> None:
        self._mark(ids, lambda some: qe.UpdateOperation.delete_payload(some, [DEAD_FROM]))

    def _mark(self, ids: list[str], operation: Callable[[list[Any]], qe.UpdateOperation]) -> None:
        for start in range(0, len(ids), MARK_SLICE):
            if start:
                hand_over()
            with self._lock:
                self.shard.update(operation(list(ids[start : start + MARK_SLICE])))

    def dead_index_missing(self) -> bool:
        return DEAD_FROM not in self.shard.info().payload_schema

    def index_dead(self) -> None:
        with self._lock:
            self.shard.update(qe.UpdateOperation.create_field_index(DEAD_FROM, qe.PayloadSchemaType.Integer))

    def set_payload_for_source(self, source_id: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self.shard.update(qe.UpdateOperation.set_payload_by_filter(_match("source_id", [source_id]), payload))

    # -- reads ----------------------------------------------------------------------------------
    def held(self, ids: set[str]) -> int:
        # A count a slice at a time: the call holds the GIL, and one condition of 100,000 ids took ~0.5 s.
        listed: list[Any] = list(ids)
        held = 0
        for start in range(0, len(listed), MARK_SLICE * 4):
            if start:
                hand_over()
            some = set(listed[start : start + MARK_SLICE * 4])
            held += self.shard.count(qe.CountRequest(exact=True, filter=qe.Filter(must=[qe.HasIdCondition(some)])))
        return held

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

    def search(self, sparse: SparseVec | None, dense: list[float] | None, where: SearchFilter, limit: int,
               fields: list[str] | None = None) -> list[Hit]:
        flt = native_filter(where)
        # A hit's source alone comes from memory: reading it from the payload storage decompresses each hit's
        # whole payload, about a sixth of a search's samples for 50 hits (py-spy --native).
        sources_only = fields == [SOURCE_ID]
        payload: bool | list[str] = False if sources_only else True if fields is None else fields
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
                with_payload=payload,
            )
        else:
            request = qe.QueryRequest(limit=limit, query=sparse_q or dense_q, filter=flt, with_payload=payload)
        points = self.shard.query(request)
        if not sources_only:
            return [Hit(_uuid_str(p.id), float(p.score), dict(p.payload or {})) for p in points]
        scored = [(_uuid_str(p.id), float(p.score)) for p in points]
        source_of = self.memory.sources(self.shard, [point_id for point_id, _ in scored])
        # A point deleted since the query may have no source: the hit carries none (retrieval drops it).
        return [Hit(point_id, score, {SOURCE_ID: source_of[point_id]} if point_id in source_of else {})
                for point_id, score in scored]

    def warm_up(self, wait: bool = False) -> None:
        """Read the sources of the live points into the memory searches take them from (`SourceMemory.warm_up`)."""
        self.memory.warm_up(self.shard, wait)

    def count(self, source_id: str | None = None, dead: bool | None = None) -> int:
        must: list[Any] = [qe.FieldCondition("source_id", match=qe.MatchAny([source_id]))] if source_id else []
        must_not: list[Any] = []
        if dead is not None:
            (must if dead else must_not).append(qe.FieldCondition(DEAD_FROM, range=qe.RangeFloat(gte=0)))
        flt = qe.Filter(must=must or None, must_not=must_not or None) if must or must_not else None
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
        self.memory.stop()
        with self._lock:
            try:
                self.shard.flush()
            finally:
                self.shard.close()


def _match(key: str, values: list[str]) -> qe.Filter:
    return qe.Filter(must=[qe.FieldCondition(key, match=qe.MatchAny(list(values)))])


def native_filter(where: SearchFilter) -> qe.Filter:
    """The store's filter for a search (the benchmarks build the bare engine's query with it)."""
    must_not: list[Any] = [qe.FieldCondition(DEAD_FROM, range=qe.RangeFloat(lte=where.served_at))]
    if where.hidden_writers:
        must_not.append(qe.FieldCondition(WRITTEN_BY, match=qe.MatchAny(list(where.hidden_writers))))
    must: list[Any] = []
    if where.source_ids:
        must.append(qe.FieldCondition("source_id", match=qe.MatchAny(list(where.source_ids))))
    if where.source_classes:
        must.append(qe.FieldCondition("source_class", match=qe.MatchAny(list(where.source_classes))))
    if where.tags:
        must.append(qe.FieldCondition("tags", match=qe.MatchAny(list(where.tags))))
    return qe.Filter(must=must or None, must_not=must_not)
