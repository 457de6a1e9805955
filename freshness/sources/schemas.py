"""Wire shapes of sources and snapshots, kept apart from the ORM tables."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

SourceId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,127}$", description="slug")]
# The team a source belongs to, and that a publisher key is bound to.
OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$"
Owner = Annotated[str, Meta(pattern=OWNER_PATTERN)]
ClassName = Annotated[str, Meta(min_length=1, max_length=128)]
Title = Annotated[str, Meta(min_length=1, max_length=500)]
Uri = Annotated[str, Meta(min_length=1, max_length=2048)]
Tag = Annotated[str, Meta(min_length=1, max_length=64)]
AwareTime = Annotated[datetime, Meta(tz=True)]


class SourceCreate(Struct, forbid_unknown_fields=True):
    id: SourceId
    title: Title
    owner: Owner
    source_class: ClassName
    uri: Uri | None = None
    refresh_interval: str | None = None
    tags: Annotated[list[Tag], Meta(max_length=50)] = []
    metadata: dict[str, Any] = {}


class SourceUpdate(Struct, forbid_unknown_fields=True):
    title: Title | UnsetType = UNSET
    uri: Uri | None | UnsetType = UNSET
    refresh_interval: str | None | UnsetType = UNSET
    tags: Annotated[list[Tag], Meta(max_length=50)] | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET
    # Only to a class the policy defines; the source is judged under it from that moment.
    source_class: ClassName | UnsetType = UNSET


class DocumentIn(Struct, forbid_unknown_fields=True):
    id: Annotated[str, Meta(min_length=1, max_length=512)]
    title: Annotated[str, Meta(max_length=1000)] | None = None
    uri: Uri | None = None
    metadata: dict[str, Any] = {}
    text: str | None = None
    chunks: list[str] | None = None
    vectors: list[list[float]] | None = None


class PublishRequest(Struct, forbid_unknown_fields=True):
    documents: list[DocumentIn]
    version: Annotated[str, Meta(min_length=1, max_length=256)] | None = None
    captured_at: AwareTime | None = None
    valid_until: AwareTime | None = None


class ActivateRequest(Struct, forbid_unknown_fields=True):
    """An optional check: the snapshot must belong to this source, or nothing changes."""

    source_id: str | None = None


class SnapshotOut(Struct):
    id: str
    snapshot_id: str
    source_id: str
    version: str | None
    state: str
    content_hash: str
    captured_at: datetime
    verified_at: datetime
    valid_until: datetime | None
    created_at: datetime
    activated_at: datetime | None
    superseded_at: datetime | None
    purged_at: datetime | None
    failed_at: datetime | None
    failure_reason: str | None
    document_count: int
    chunk_count: int


SourceStatus = Literal["never_published", "expired", "stale", "failing", "warn", "fresh", "retired"]


class FreshnessOut(Struct):
    status: SourceStatus
    age_seconds: int | None
    max_age_seconds: int
    warn_age_seconds: int | None
    strictest_max_age_seconds: int


class SourceOut(Struct):
    id: str
    title: str
    owner: str
    source_class: str
    uri: str | None
    refresh_interval: str | None
    refresh_interval_seconds: int | None
    tags: list[str]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    retired_at: datetime | None
    active_snapshot_id: str | None
    active_snapshot: SnapshotOut | None = None
    freshness: FreshnessOut | None = None


class DocumentOut(Struct):
    id: str
    title: str | None
    uri: str | None
    metadata: dict[str, Any]
    content_hash: str
    chunk_count: int


class SnapshotDetail(SnapshotOut, kw_only=True):
    documents: list[DocumentOut]


class PublishStats(Struct):
    documents: int
    chunks: int
    chunks_embedded: int
    chunks_reused: int
    duration_ms: int


class PublishResult(Struct):
    snapshot: SnapshotOut
    changed: bool
    stats: PublishStats


class SourcePage(Struct):
    items: list[SourceOut]
    next_cursor: str | None


class SnapshotPage(Struct):
    items: list[SnapshotOut]
    next_cursor: str | None


# Retired sources are not in the report, so `retired` is not one of its statuses.
ReportStatus = Literal["never_published", "expired", "stale", "failing", "warn", "fresh"]


class LastRefresh(Struct):
    at: datetime | None
    outcome: str | None
    error: str | None
    consecutive_failures: int
    next_at: datetime | None


class SourceFreshness(Struct):
    id: str
    source_id: str
    title: str
    owner: str
    source_class: str
    status: ReportStatus
    active_snapshot_id: str | None
    snapshot_version: str | None
    captured_at: datetime | None
    verified_at: datetime | None
    valid_until: datetime | None
    age_seconds: int | None
    max_age_seconds: int
    warn_age_seconds: int | None
    strictest_max_age_seconds: int
    stale_for: list[str]
    critical_task_classes: list[str]
    uri: str | None
    last_refresh_outcome: str | None
    last_refresh: LastRefresh | None

    @property
    def blocks_critical(self) -> bool:
        """Stale or expired for a task class whose criticality is critical."""
        return bool(set(self.stale_for) & set(self.critical_task_classes))


class FreshnessReport(Struct):
    """One page of the report, with what holds for every live source the filters select (`counts`,
    `critical_blocked`), whatever the page."""

    items: list[SourceFreshness]
    next_cursor: str | None
    generated_at: datetime
    policy_version: str
    counts: dict[str, int]
    critical_blocked: list[str]
    points_not_indexed: int | None
