"""A Qdrant server or cluster through qdrant-client (also its local mode, used by the tests)."""

from __future__ import annotations

from typing import Any, cast

from qdrant_client import QdrantClient
from qdrant_client import models as qm

from freshness.errors import Unavailable
from freshness.vectorstore.base import (
    DEAD_FROM,
    DENSE,
    INDEXED_FIELDS,
    RRF_K,
    SPARSE,
    WRITTEN_BY,
    ChunkPoint,
    Hit,
    SearchFilter,
    SparseVec,
)

HELD_SLICE = 10_000  # ids one count request names: few requests over HTTP, a body of well under 1 MB


class ServerStore:
    def __init__(self, client: QdrantClient, collection: str, vector_size: int | None = None) -> None:
        self.client = client
        self.collection = collection
        self._dense: int | None = None
        try:
            if not client.collection_exists(collection):
                client.create_collection(
                    collection,
                    vectors_config={},
                    sparse_vectors_config={SPARSE: qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
                )
            info = client.get_collection(collection)
            self._schema = set(info.payload_schema or {})
            missing = [name for name in INDEXED_FIELDS if name not in self._schema]
            vectors = info.config.params.vectors
            if isinstance(vectors, dict) and DENSE in vectors:
                self._dense = vectors[DENSE].size
        except Exception as exc:
            raise Unavailable(f"cannot reach the Qdrant collection {collection!r}: {exc}") from exc
        try:
            for name in missing:
                client.create_payload_index(collection, name, qm.PayloadSchemaType.KEYWORD)
        except Exception as exc:
            raise Unavailable(f"cannot index the Qdrant collection {collection!r}: {exc}") from exc
        if vector_size:
            self.ensure_dense(vector_size)

    @classmethod
    def connect(cls, url: str, api_key: str | None, collection: str, vector_size: int | None = None) -> ServerStore:
        if url.startswith("local:"):
            location = url.removeprefix("local:")
            client = QdrantClient(location=":memory:") if location in ("", ":memory:") else QdrantClient(path=location)
        else:
            client = QdrantClient(url=url, api_key=api_key, timeout=10)
        return cls(client, collection, vector_size)

    def ensure_dense(self, size: int) -> None:
        if self._dense == size:
            return
        if self._dense is not None:
            raise Unavailable(f"the collection holds dense vectors of size {self._dense}, not {size}")
        self.client.create_vector_name(
            self.collection,
            DENSE,
            qm.DenseVectorNameConfig(dense=qm.DenseVectorConfig(size=size, distance=qm.Distance.COSINE)),
        )
        self._dense = size

    def upsert(self, points: list[ChunkPoint]) -> None:
        structs = []
        for p in points:
            vector: dict[str, Any] = {SPARSE: qm.SparseVector(indices=p.sparse.indices, values=p.sparse.values)}
            if p.dense is not None:
                vector[DENSE] = p.dense
            structs.append(qm.PointStruct(id=p.id, vector=vector, payload=p.payload))
        self.client.upsert(self.collection, structs, wait=True)

    def delete_ids(self, ids: list[str]) -> None:
        if ids:
            self.client.delete(self.collection, qm.PointIdsList(points=list(ids)), wait=True)

    def delete_written_by(self, snapshot_id: str) -> None:
        self.client.delete(self.collection, qm.FilterSelector(filter=_match(WRITTEN_BY, [snapshot_id])), wait=True)

    def held(self, ids: set[str]) -> int:
        listed: list[Any] = list(ids)
        held = 0
        for start in range(0, len(listed), HELD_SLICE):
            where = qm.Filter(must=[qm.HasIdCondition(has_id=listed[start : start + HELD_SLICE])])
            held += self.client.count(self.collection, count_filter=where, exact=True).count
        return held

    def mark_dead(self, ids: list[str], seq: int) -> None:
        if ids:
            self.client.set_payload(self.collection, {DEAD_FROM: seq}, points=qm.PointIdsList(points=list(ids)),
                                    wait=True)

    def mark_served(self, ids: list[str]) -> None:
        if ids:
            self.client.delete_payload(self.collection, [DEAD_FROM], points=qm.PointIdsList(points=list(ids)),
                                       wait=True)

    def dead_index_missing(self) -> bool:
        return DEAD_FROM not in self._schema

    def index_dead(self) -> None:
        try:
            self.client.create_payload_index(self.collection, DEAD_FROM, qm.PayloadSchemaType.INTEGER)
        except Exception as exc:
            raise Unavailable(f"cannot index the Qdrant collection {self.collection!r}: {exc}") from exc
        self._schema.add(DEAD_FROM)

    def set_payload_for_source(self, source_id: str, payload: dict[str, Any]) -> None:
        self.client.set_payload(self.collection, payload, points=_match("source_id", [source_id]), wait=True)

    def vectors(self, ids: list[str]) -> dict[str, tuple[SparseVec, list[float] | None]]:
        if not ids:
            return {}
        out: dict[str, tuple[SparseVec, list[float] | None]] = {}
        for record in self.client.retrieve(self.collection, list(ids), with_payload=False, with_vectors=True):
            vec = record.vector or {}
            sparse = vec.get(SPARSE) if isinstance(vec, dict) else None
            if sparse is None:
                continue
            sparse = cast(qm.SparseVector, sparse)  # the SPARSE name holds a sparse vector
            dense = cast(dict[str, Any], vec).get(DENSE)  # a dict: a non-dict gave no sparse vector above
            out[str(record.id)] = (SparseVec(list(sparse.indices), list(sparse.values)), dense)
        return out

    def search(self, sparse: SparseVec | None, dense: list[float] | None, where: SearchFilter, limit: int,
               fields: list[str] | None = None) -> list[Hit]:
        flt = _filter(where)
        payload: bool | list[str] = True if fields is None else fields
        sparse_q = qm.SparseVector(indices=sparse.indices, values=sparse.values) if sparse else None
        if sparse_q is not None and dense is not None:
            result = self.client.query_points(
                self.collection,
                prefetch=[
                    qm.Prefetch(query=sparse_q, using=SPARSE, filter=flt, limit=limit),
                    qm.Prefetch(query=dense, using=DENSE, filter=flt, limit=limit),
                ],
                query=qm.RrfQuery(rrf=qm.Rrf(k=RRF_K)),
                query_filter=flt,
                limit=limit,
                with_payload=payload,
            )
        elif sparse_q is not None:
            result = self.client.query_points(
                self.collection, query=sparse_q, using=SPARSE, query_filter=flt, limit=limit, with_payload=payload
            )
        else:
            result = self.client.query_points(
                self.collection, query=dense, using=DENSE, query_filter=flt, limit=limit, with_payload=payload
            )
        return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in result.points]

    def warm_up(self, wait: bool = False) -> None:
        """Nothing to read ahead: a search asks the server for each hit's source with the hit."""

    def count(self, source_id: str | None = None, dead: bool | None = None) -> int:
        must: list[Any] = [qm.FieldCondition(key="source_id", match=qm.MatchAny(any=[source_id]))] if source_id else []
        must_not: list[Any] = []
        if dead is not None:
            (must if dead else must_not).append(qm.FieldCondition(key=DEAD_FROM, range=qm.Range(gte=0)))
        flt = qm.Filter(must=must or None, must_not=must_not or None) if must or must_not else None
        return self.client.count(self.collection, count_filter=flt, exact=True).count

    def scroll_ids(self, offset: str | None, limit: int) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
        records, next_offset = self.client.scroll(
            self.collection, offset=offset, limit=limit, with_payload=True, with_vectors=False
        )
        return [(str(r.id), dict(r.payload or {})) for r in records], (
            str(next_offset) if next_offset is not None else None
        )

    def unindexed_count(self) -> int:
        info = self.client.get_collection(self.collection)
        indexed = info.indexed_vectors_count or 0
        points = info.points_count or 0
        return max(0, points - indexed) if self._dense else 0

    def optimize(self) -> bool:
        return False  # a Qdrant server optimises in the background

    def ping(self) -> None:
        try:
            self.client.get_collection(self.collection)
        except Exception as exc:
            raise Unavailable(f"the Qdrant server does not answer: {exc}") from exc

    def close(self) -> None:
        self.client.close()


def _match(key: str, values: list[str]) -> qm.Filter:
    return qm.Filter(must=[qm.FieldCondition(key=key, match=qm.MatchAny(any=list(values)))])


def _filter(where: SearchFilter) -> qm.Filter:
    must_not: list[Any] = [qm.FieldCondition(key=DEAD_FROM, range=qm.Range(lte=where.served_at))]
    if where.hidden_writers:
        must_not.append(qm.FieldCondition(key=WRITTEN_BY, match=qm.MatchAny(any=list(where.hidden_writers))))
    must: list[Any] = []
    if where.source_ids:
        must.append(qm.FieldCondition(key="source_id", match=qm.MatchAny(any=list(where.source_ids))))
    if where.source_classes:
        must.append(qm.FieldCondition(key="source_class", match=qm.MatchAny(any=list(where.source_classes))))
    if where.tags:
        must.append(qm.FieldCondition(key="tags", match=qm.MatchAny(any=list(where.tags))))
    return qm.Filter(must=must or None, must_not=must_not)
