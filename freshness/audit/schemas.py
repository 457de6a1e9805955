"""Wire schemas of the audit endpoints.

An audit record is shown as it was hashed: every field name below is a key of the stored content
(freshness.audit.writer), except `seq`, `prev_hash`, `record_hash`, `snapshot_ids` and each chunk's
`source`, `snapshot` and `snapshot.state_now`, which a lookup adds. Times are as they were at serve time.

These shapes are the audit log's own, not derived from the retrieve response's: a stored record keeps
the shape it was hashed with, whatever the response grows later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from freshness.retrieval.schemas import Result
from freshness.sources.states import SnapshotState

RetrievalStatus = Literal["ok", "flagged", "insufficient_context"]
ExportFormat = Literal["json", "jsonl", "csv"]


class AuditPrincipal(msgspec.Struct, kw_only=True):
    """The key that asked."""

    key_id: str
    name: str
    role: str


class AuditFilters(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The filters of the request; a request without filters recorded none of these keys."""

    source_ids: list[str] | None = None
    source_classes: list[str] | None = None
    tags: list[str] | None = None


class AuditSource(msgspec.Struct, kw_only=True):
    """A source as it was when the chunk was served (credentials in its uri never recorded)."""

    title: str
    owner: str
    uri: str | None
    source_class: str


class AuditSnapshot(msgspec.Struct, kw_only=True):
    """A snapshot as it was when the chunk was served: `verified_at` then, not today's."""

    source_id: str
    version: str | None
    captured_at: datetime
    verified_at: datetime
    valid_until: datetime | None
    content_hash: str


class AuditChunkSnapshot(AuditSnapshot, kw_only=True):
    """A chunk's snapshot as recorded, with the state it is in now (None once the snapshot is gone)."""

    state_now: SnapshotState | None


class AuditServedChunk(Result, kw_only=True):
    """A chunk of the answer as served (every field of a retrieve result), with the max age it was judged
    against and its provenance."""

    max_age_seconds: int | None = None  # absent from records written before it was hashed
    source: AuditSource | None
    snapshot: AuditChunkSnapshot


class AuditRejectedChunk(msgspec.Struct, kw_only=True):
    """A candidate that was not served because it was too old, with its provenance."""

    chunk_id: str
    source_id: str
    snapshot_id: str
    reason: Literal["stale", "expired"]
    age_seconds: int
    max_age_seconds: int
    source: AuditSource | None
    snapshot: AuditChunkSnapshot


class AuditRecord(msgspec.Struct, kw_only=True):
    """One retrieval with full provenance; `query` is None where only its sha256 is kept."""

    request_id: str
    served_at: datetime
    status: RetrievalStatus
    task_class: str
    criticality: str
    policy_version: str
    principal: AuditPrincipal
    query: str | None
    query_sha256: str
    filters: AuditFilters
    top_k: int
    vector_given: bool
    latency_ms: int
    results: list[AuditServedChunk]
    rejected: list[AuditRejectedChunk]
    sources: dict[str, AuditSource]
    snapshots: dict[str, AuditSnapshot]
    snapshot_ids: list[str]
    seq: int
    prev_hash: str
    record_hash: str


class AuditSummary(msgspec.Struct, kw_only=True):
    """One line of a search: `results` and `rejected` count the chunks."""

    request_id: str
    served_at: datetime
    task_class: str
    status: RetrievalStatus
    policy_version: str
    principal: AuditPrincipal | None
    results: int
    rejected: int
    snapshot_ids: list[str]
    record_hash: str


class AuditPage(msgspec.Struct, kw_only=True):
    """Newest first; pass `next_cursor` back as `cursor` for the next page (None on the last)."""

    items: list[AuditSummary]
    next_cursor: str | None


class ChainBreak(msgspec.Struct, kw_only=True):
    """The first record that was changed, deleted, added or moved (`request_id` None where none is left)."""

    seq: int
    request_id: str | None
    problem: str


class CheckpointCheck(msgspec.Struct, kw_only=True):
    """Whether the log still holds what a kept checkpoint vouches for; `reason` says why not."""

    seq: int
    record_hash: str
    ok: bool
    reason: str | None


class ChainReport(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The verdict on the log; `checkpoint` only when one was given, and `ok` is false when it fails."""

    ok: bool
    records_checked: int
    first_bad: ChainBreak | None
    checkpoint: CheckpointCheck | None = None


class Checkpoint(msgspec.Struct, kw_only=True):
    """The chain head at one moment, signed by the service: an auditor keeps it elsewhere."""

    seq: int
    record_hash: str
    signed_at: str
    key_id: str
    signature: str


class PublicKey(msgspec.Struct, kw_only=True):
    """The public half of the key that signs checkpoints."""

    key_id: str
    algorithm: str
    public_key: str  # PEM, SubjectPublicKeyInfo
