"""Step 2 of a publish (sources.publish): the reserved snapshot's new chunks written to the store in small
batches, the vectors of chunks this source already has reused instead of embedded again. The points of
its kept documents are shared as they are (sources.serving); they are only checked to be there.

Nothing written here is served before the snapshot is activated; a failure leaves the snapshot to be
marked failed and its points deleted by the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, select, update

from freshness.db import read_connection, session_scope, transaction
from freshness.errors import InvalidInput, Unavailable
from freshness.models import Chunk, Snapshot, SnapshotState, Source
from freshness.runtime import Runtime
from freshness.sources import lifecycle
from freshness.sources.worker import decode_sparse
from freshness.vectorstore import ChunkPoint, SparseVec
from freshness.vectorstore.embedders import bm25_document
from freshness.vectorstore.handover import hand_over

Progress = Callable[[int, int], None]
YIELD_EVERY = 8  # chunks embedded between voluntary GIL hand-overs
HASHES_PER_QUERY = 500


@dataclass
class PlannedChunk:
    chunk_id: str
    document_id: str
    position: int
    text: str
    content_hash: str
    vector: list[float] | None
    sparse: bytes | None = None  # its BM25 vector, when the worker that prepared it embedded it (msgpack)


def _reusable(runtime: Runtime, source_id: str, hashes: set[str]) -> dict[str, str]:
    """content hash -> a point of the same text in a retained snapshot of this source."""
    found: dict[str, str] = {}
    wanted = sorted(hashes)
    with read_connection(runtime.sessions) as conn:
        for start in range(0, len(wanted), HASHES_PER_QUERY):
            rows = conn.execute(_REUSABLE, {"source_id": source_id, "hashes": wanted[start : start + HASHES_PER_QUERY]})
            for digest, point_id in rows:
                found.setdefault(digest, point_id)
    return found


# Built once: building the select cost more than running it for a publish's few new chunks.
_CHUNKS = cast(Table, Chunk.__table__)
_REUSABLE = (
    select(_CHUNKS.c.content_hash, _CHUNKS.c.point_id)
    .join(Snapshot, Snapshot.id == _CHUNKS.c.snapshot_id)
    .where(
        _CHUNKS.c.source_id == bindparam("source_id"),
        _CHUNKS.c.content_hash.in_(bindparam("hashes", expanding=True)),
        _CHUNKS.c.text.is_not(None),  # the rows that hold a text: the index has only those
        Snapshot.state.in_([SnapshotState.ACTIVE, SnapshotState.SUPERSEDED]),
    )
)


def check_kept(runtime: Runtime, kept_points: list[str]) -> None:
    """The points of the kept documents, which the new snapshot shares, must be in the store."""
    if not kept_points:
        return
    named = set(kept_points)
    held = runtime.store.held(named)
    if held != len(named):
        raise Unavailable(f"the store holds {held} points of the {len(named)} chunks of the unchanged"
                          " documents; run `freshness jobs run reconcile`, then publish again")


def index_chunks(
    runtime: Runtime,
    source: Source,
    snapshot: Snapshot,
    planned: list[PlannedChunk],
    dense_size: int | None,
    progress: Progress | None,
) -> tuple[int, int]:
    store = runtime.store
    batch_size = max(1, runtime.settings.write_batch)
    reusable = _reusable(runtime, source.id, {c.content_hash for c in planned})
    embedded = reused = 0
    last_beat = time.monotonic()
    # The source's part of every point's payload, built once: reading an ORM row's attributes costs more
    # than copying a dict.
    common = lifecycle.point_payload(source, snapshot.id, "")
    for start in range(0, len(planned), batch_size):
        batch = planned[start : start + batch_size]
        old_ids = [reusable[c.content_hash] for c in batch if c.content_hash in reusable]
        old_vectors = store.vectors(old_ids)
        points: list[ChunkPoint] = []
        to_embed: list[int] = []
        for chunk in batch:
            old = old_vectors.get(reusable.get(chunk.content_hash, ""))
            sparse: SparseVec
            dense = chunk.vector
            if old is not None and (dense is not None or old[1] is not None or runtime.embedder is None):
                sparse = old[0]
                dense = dense if dense is not None else old[1]
                reused += 1
            else:
                if embedded % YIELD_EVERY == 0:
                    hand_over()  # to a waiting retrieval now, not after the 5 ms switch interval
                # Embedded already when a worker process prepared the publish (sources.worker).
                sparse = bm25_document(chunk.text) if chunk.sparse is None else decode_sparse(chunk.sparse)
                embedded += 1
                if dense is None and runtime.embedder is not None:
                    to_embed.append(len(points))
            payload = {**common, "tags": list(common["tags"]), "document_id": chunk.document_id}
            points.append(ChunkPoint(chunk.chunk_id, sparse, dense, payload))
        if to_embed:
            vectors = runtime.embedder.embed([batch[i].text for i in to_embed])  # type: ignore[union-attr]
            size = dense_size or (len(vectors[0]) if vectors else None)
            if size is not None and dense_size is None:
                dense_size = _settle_embedder_size(runtime, size)
            for i, vector in zip(to_embed, vectors, strict=True):
                if len(vector) != dense_size:
                    raise InvalidInput(f"the embedder returned dimension {len(vector)}, expected {dense_size}")
                points[i].dense = vector
        store.upsert(points)
        if progress is not None:
            progress(min(start + batch_size, len(planned)), len(planned))
        if time.monotonic() - last_beat > 2:
            _heartbeat(runtime, snapshot.id)
            last_beat = time.monotonic()
    return embedded, reused


def _settle_embedder_size(runtime: Runtime, size: int) -> int:
    size = transaction(runtime.sessions, lambda session: lifecycle.settle_dense_size(session, size))
    runtime.store.ensure_dense(size)
    return size


def _heartbeat(runtime: Runtime, snapshot_id: str) -> None:
    with session_scope(runtime.sessions) as session:
        session.execute(
            update(Snapshot).where(Snapshot.id == snapshot_id).values(heartbeat_at=runtime.clock.now())
        )
