"""Reading audit records (verifying them is `freshness.audit.verify`). Nothing here edits or deletes a record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from freshness.errors import InvalidInput, NotFound
from freshness.models import Retrieval, RetrievalChunk, Snapshot


def record_view(session: Session, record: Retrieval) -> dict[str, Any]:
    """The record as served, plus each chunk's source and snapshot provenance (with the snapshot's state now)."""
    content = dict(record.content)
    snapshot_ids = set(content.get("snapshots", {}))
    states = dict(session.execute(select(Snapshot.id, Snapshot.state).where(Snapshot.id.in_(snapshot_ids))).all())
    sources = content.get("sources", {})
    snapshots = content.get("snapshots", {})

    def provenance(item: dict) -> dict:
        snap = dict(snapshots.get(item["snapshot_id"], {}))
        snap["state_now"] = states.get(item["snapshot_id"])
        return {**item, "source": sources.get(item["source_id"]), "snapshot": snap}

    content["results"] = [provenance(r) for r in content.get("results", [])]
    content["rejected"] = [provenance(r) for r in content.get("rejected", [])]
    content["snapshot_ids"] = sorted(snapshot_ids)
    content["seq"] = record.seq
    content["prev_hash"] = record.prev_hash
    content["record_hash"] = record.record_hash
    return content


def get_record(session: Session, request_id: str) -> dict[str, Any]:
    record = session.get(Retrieval, request_id)
    if record is None:
        raise NotFound(f"no retrieval with request id {request_id!r}")
    return record_view(session, record)


def summary(record: Retrieval) -> dict[str, Any]:
    content = record.content
    return {
        "request_id": record.request_id,
        "served_at": content["served_at"],
        "task_class": record.task_class,
        "status": record.status,
        "policy_version": record.policy_version,
        "principal": content.get("principal"),
        "results": len(content.get("results", [])),
        "rejected": len(content.get("rejected", [])),
        "snapshot_ids": sorted(content.get("snapshots", {})),
        "record_hash": record.record_hash,
    }


TOUCH_PAGE = 200  # seqs read from the chunk index per step of a snapshot or source lookup


def list_records(
    session: Session,
    *,
    snapshot_id: str | None,
    source_id: str | None,
    task_class: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    before_seq: int | None,
    limit: int,
) -> list[Retrieval]:
    """Newest first. `snapshot_id` answers "every request that was served (or refused) snapshot X"."""
    if since and until and since > until:
        raise InvalidInput("since is after until", field="since")
    query = select(Retrieval).order_by(Retrieval.seq.desc()).limit(limit + 1)
    if task_class:
        query = query.where(Retrieval.task_class == task_class)
    if status:
        query = query.where(Retrieval.status == status)
    if since:
        query = query.where(Retrieval.served_at >= since)
    if until:
        query = query.where(Retrieval.served_at <= until)
    if snapshot_id or source_id:
        return _touching(session, query, snapshot_id, source_id, before_seq, limit)
    if before_seq is not None:
        query = query.where(Retrieval.seq < before_seq)
    return list(session.scalars(query))


def _touching(
    session: Session, query, snapshot_id: str | None, source_id: str | None, before_seq: int | None, limit: int
) -> list[Retrieval]:
    """Records that used a snapshot or source, newest first, read from the chunk index backwards.

    The (snapshot_id, seq) and (source_id, seq) indexes give the newest matching seqs without
    reading the older ones, so a snapshot served a million times is as quick as a cold one.
    """
    page = max(2 * (limit + 1), TOUCH_PAGE)
    found: list[Retrieval] = []
    while len(found) <= limit:
        seqs_query = select(RetrievalChunk.seq).distinct().order_by(RetrievalChunk.seq.desc()).limit(page)
        if snapshot_id:
            seqs_query = seqs_query.where(RetrievalChunk.snapshot_id == snapshot_id)
        if source_id:
            seqs_query = seqs_query.where(RetrievalChunk.source_id == source_id)
        if before_seq is not None:
            seqs_query = seqs_query.where(RetrievalChunk.seq < before_seq)
        seqs = list(session.scalars(seqs_query))
        if not seqs:
            break
        found.extend(session.scalars(query.where(Retrieval.seq.in_(seqs))))
        if len(seqs) < page:
            break
        before_seq = seqs[-1]
    found.sort(key=lambda r: r.seq, reverse=True)
    return found[: limit + 1]
