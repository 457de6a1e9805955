"""Reading audit records (verifying them is `freshness.audit.verify`). Nothing here edits or deletes a record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from freshness.audit.schemas import AuditPrincipal, AuditRecord, AuditSummary
from freshness.errors import Conflict, InvalidInput, NotFound
from freshness.models import Retrieval, RetrievalChunk, Snapshot
from freshness.policy.model import Policy


def record_view(session: Session, record: Retrieval) -> dict[str, Any]:
    """The record as served, plus each chunk's source and snapshot provenance (with the snapshot's state now)."""
    content = dict(record.content)
    snapshot_ids = set(content.get("snapshots", {}))
    states: dict[str | None, Any] = dict(
        session.execute(select(Snapshot.id, Snapshot.state).where(Snapshot.id.in_(snapshot_ids))).all())
    sources = content.get("sources", {})
    snapshots = content.get("snapshots", {})

    def provenance(item: dict) -> dict:
        # .get: a record changed outside the service still shows what is left of it (verify names it).
        snap = dict(snapshots.get(item.get("snapshot_id"), {}))
        snap["state_now"] = states.get(item.get("snapshot_id"))
        return {**item, "source": sources.get(item.get("source_id")), "snapshot": snap}

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


def audit_record(view: dict[str, Any]) -> AuditRecord:
    """The typed record of `record_view`. Content that no longer has a record's shape was changed
    outside the service: that is a 409 pointing to verify, not a server error."""
    try:
        return msgspec.convert(view, AuditRecord)
    except msgspec.ValidationError as exc:
        raise Conflict(f"the record of request id {view.get('request_id')!r} no longer has the shape of an audit "
                       "record: it was changed outside the service; GET /v1/audit/verify shows where the log "
                       "breaks") from exc


def summary(record: Retrieval) -> AuditSummary:
    """A search line, from the columns the search matched on and counts from the content."""
    content = record.content if isinstance(record.content, dict) else {}
    try:
        principal = msgspec.convert(content.get("principal"), AuditPrincipal | None)
    except msgspec.ValidationError:
        principal = None  # changed outside the service; verify names the record
    return AuditSummary(
        request_id=record.request_id,
        served_at=record.served_at,
        task_class=record.task_class,
        status=record.status,  # type: ignore[arg-type]  # the column holds what the writer wrote
        policy_version=record.policy_version,
        principal=principal,
        results=_count(content, "results"),
        rejected=_count(content, "rejected"),
        snapshot_ids=sorted(content.get("snapshots") or {}),
        record_hash=record.record_hash,
    )


def _count(content: dict[str, Any], key: str) -> int:
    items = content.get(key)
    return len(items) if isinstance(items, list) else 0


def check_task_class(session: Session, policy: Policy, task_class: str) -> None:
    """A task class the policy names, or one that some record was served under (a class since dropped from
    the policy stays searchable). Anything else is a typo that would find nothing: a 422."""
    if task_class in policy.task_classes:
        return
    # One probe of the (task_class, served_at) index.
    if session.scalar(select(exists().where(Retrieval.task_class == task_class))):
        return
    known = ", ".join(sorted(policy.task_classes))
    raise InvalidInput(f"no task class {task_class!r} in the policy or the audit log; the policy has {known}",
                       field="task_class")


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
    session: Session, query: Select[Retrieval], snapshot_id: str | None, source_id: str | None,
    before_seq: int | None, limit: int,
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
