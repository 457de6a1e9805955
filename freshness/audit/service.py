"""Reading audit records and verifying the hash chain. Nothing here edits or deletes a record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from freshness.audit.chain import GENESIS, record_hash
from freshness.errors import InvalidInput, NotFound
from freshness.models import AuditChainHead, Retrieval, RetrievalChunk, Snapshot

VERIFY_BATCH = 2_000


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


def verify_chain(session: Session) -> dict[str, Any]:
    """Walk the chain in order; report the first record that was changed, deleted or inserted out of order."""
    expected_prev = GENESIS
    expected_seq = 1
    checked = 0
    last_seq = 0
    while True:
        batch = list(
            session.scalars(select(Retrieval).where(Retrieval.seq >= expected_seq).order_by(Retrieval.seq)
                            .limit(VERIFY_BATCH))
        )
        if not batch:
            break
        chunk_rows: dict[int, list[tuple]] = {}
        for row in session.execute(
            select(RetrievalChunk.seq, RetrievalChunk.kind, RetrievalChunk.chunk_id, RetrievalChunk.snapshot_id,
                   RetrievalChunk.request_id)
            .where(RetrievalChunk.seq >= batch[0].seq, RetrievalChunk.seq <= batch[-1].seq)
        ):
            chunk_rows.setdefault(row[0], []).append(tuple(row[1:]))
        for record in batch:
            problem = _check(record, expected_seq, expected_prev, chunk_rows.get(record.seq, []))
            if problem:
                return _bad(checked, record, problem)
            checked += 1
            expected_prev = record.record_hash
            expected_seq = record.seq + 1
            last_seq = record.seq
    head = session.get(AuditChainHead, 1)
    if head is None or (head.seq == last_seq and head.last_hash == expected_prev):
        return {"ok": True, "records_checked": checked, "first_bad": None}
    if head.seq > last_seq:
        return {"ok": False, "records_checked": checked,
                "first_bad": {"seq": last_seq + 1, "request_id": None,
                              "problem": f"records after seq {last_seq} are missing (the chain head is at {head.seq})"}}
    # Every record up to here links, so the first one the head does not vouch for is the culprit: one
    # past the head (appended without moving it), or the last one (rewritten and rehashed).
    culprit_seq = head.seq + 1 if head.seq < last_seq else last_seq
    culprit = session.scalar(select(Retrieval).where(Retrieval.seq == culprit_seq))
    if culprit is None:  # no records at all, yet the head was moved off the genesis hash
        return {"ok": False, "records_checked": 0,
                "first_bad": {"seq": 0, "request_id": None, "problem": "the chain head was changed"}}
    problem = (f"inserted after the chain head (seq {head.seq})" if head.seq < last_seq
               else "the record's hash is not the chain head's (the record or the head was changed)")
    return _bad(culprit_seq - 1, culprit, problem)


def _check(record: Retrieval, expected_seq: int, expected_prev: str, chunks: list[tuple]) -> str | None:
    if record.seq != expected_seq:
        return f"record seq {expected_seq} is missing (deleted); the next is {record.seq}"
    if record.prev_hash != expected_prev:
        return "prev_hash does not match the previous record's hash (deleted or inserted out of order)"
    content = record.content
    if record_hash(record.prev_hash, content) != record.record_hash:
        return "the record's content does not match its hash (changed)"
    if (content.get("request_id") != record.request_id or content.get("status") != record.status
            or content.get("task_class") != record.task_class
            or content.get("policy_version") != record.policy_version):
        return "the record's columns do not match its hashed content (changed)"
    expected_chunks = sorted(
        [("served", r["chunk_id"], r["snapshot_id"], record.request_id) for r in content.get("results", [])]
        + [("rejected", r["chunk_id"], r["snapshot_id"], record.request_id) for r in content.get("rejected", [])]
    )
    if sorted(chunks) != expected_chunks:
        return "the record's chunk rows do not match its hashed content (changed or deleted)"
    return None


def _bad(checked: int, record: Retrieval, problem: str) -> dict[str, Any]:
    return {"ok": False, "records_checked": checked,
            "first_bad": {"seq": record.seq, "request_id": record.request_id, "problem": problem}}
