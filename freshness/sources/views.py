"""Turning source and snapshot rows into wire shapes, with the source's freshness as of `now`."""

from __future__ import annotations

from datetime import datetime

from freshness.models import Document, Snapshot, Source
from freshness.policy.durations import format_duration
from freshness.policy.model import Policy
from freshness.policy.verdict import judge
from freshness.refresh.reach import redact_uri
from freshness.sources.schemas import DocumentOut, FreshnessOut, SnapshotDetail, SnapshotOut, SourceOut, SourceStatus


def snapshot_out(row: Snapshot) -> SnapshotOut:
    return SnapshotOut(**_snapshot_fields(row))


def _snapshot_fields(row: Snapshot) -> dict:
    return dict(
        id=row.id,
        snapshot_id=row.id,
        source_id=row.source_id,
        version=row.version,
        state=row.state,
        content_hash=row.content_hash,
        captured_at=row.captured_at,
        verified_at=row.verified_at,
        valid_until=row.valid_until,
        created_at=row.created_at,
        activated_at=row.activated_at,
        superseded_at=row.superseded_at,
        purged_at=row.purged_at,
        failed_at=row.failed_at,
        failure_reason=row.failure_reason,
        document_count=row.document_count,
        chunk_count=row.chunk_count,
    )


def snapshot_detail(row: Snapshot, documents: list[Document]) -> SnapshotDetail:
    docs = [
        DocumentOut(
            id=d.document_id,
            title=d.title,
            uri=d.uri,
            metadata=d.metadata_ or {},
            content_hash=d.content_hash,
            chunk_count=d.chunk_count,
        )
        for d in documents
    ]
    return SnapshotDetail(**_snapshot_fields(row), documents=docs)


def source_status(source: Source, active: Snapshot | None, policy: Policy, now: datetime) -> FreshnessOut:
    """The report's status, first that applies: never_published, expired, stale, failing, warn, fresh.

    A retired source is `retired`: it serves nothing, whether or not it ever published."""
    klass = policy.source_classes.get(source.source_class)
    max_age = klass.max_age if klass else 0
    warn_age = klass.warn_age if klass else None
    strictest = policy.strictest_max_age(source.source_class) if klass else max_age
    if source.retired_at is not None:
        return FreshnessOut("retired", None, max_age, warn_age, strictest)
    if active is None:
        return FreshnessOut("never_published", None, max_age, warn_age, strictest)
    verdict = judge(max_age, warn_age, active.verified_at, active.valid_until, now)
    status: SourceStatus = verdict.freshness.value
    if status in ("warn", "fresh") and (source.consecutive_failures or 0) > 0:
        status = "failing"
    return FreshnessOut(status, verdict.age_seconds, max_age, warn_age, strictest)


def source_out(source: Source, active: Snapshot | None, policy: Policy, now: datetime) -> SourceOut:
    interval = source.refresh_interval_seconds
    return SourceOut(
        id=source.id,
        title=source.title,
        owner=source.owner,
        source_class=source.source_class,
        uri=redact_uri(source.uri),
        refresh_interval=format_duration(interval) if interval else None,
        refresh_interval_seconds=interval,
        tags=list(source.tags or []),
        metadata=dict(source.metadata_ or {}),
        created_at=source.created_at,
        updated_at=source.updated_at,
        retired_at=source.retired_at,
        active_snapshot_id=active.id if active else None,
        active_snapshot=snapshot_out(active) if active else None,
        freshness=source_status(source, active, policy, now),
    )
