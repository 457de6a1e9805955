"""What an audit record is made of: one answered retrieval as its use case tells it to the writer.

The writer (freshness.audit.writer) turns this into the hashed content. Everything here is as it was
when the answer was made: the snapshot times a chunk was judged by, the max age it was held to, the
policy version it was judged under.
"""

from __future__ import annotations

from datetime import datetime

from msgspec import Struct


class SourceFacts(Struct, frozen=True):
    """A chunk's source as it was when the chunk was judged."""

    id: str
    title: str
    owner: str
    uri: str | None
    source_class: str


class SnapshotFacts(Struct, frozen=True):
    """A chunk's snapshot as it was when the chunk was judged."""

    id: str
    version: str | None
    captured_at: datetime
    verified_at: datetime
    valid_until: datetime | None
    content_hash: str


class RecordedKey(Struct, frozen=True):
    """The API key that asked."""

    key_id: str
    name: str
    role: str


class RequestFilters(Struct, frozen=True):
    """The filters as the request gave them (a request without filters records None)."""

    source_ids: list[str] = []
    source_classes: list[str] = []
    tags: list[str] = []


class ServedEntry(Struct, frozen=True):
    """A chunk served, with the verdict it was served under."""

    rank: int
    chunk_id: str
    text: str
    score: float
    document_id: str
    uri: str | None
    age_seconds: int
    max_age_seconds: int
    freshness: str
    content_hash: str
    source: SourceFacts
    snapshot: SnapshotFacts


class RejectedEntry(Struct, frozen=True):
    """A candidate withheld because it was too old, with the verdict that withheld it."""

    chunk_id: str
    reason: str
    age_seconds: int
    max_age_seconds: int
    source: SourceFacts
    snapshot: SnapshotFacts


class RecordInput(Struct, frozen=True):
    """One retrieval to record. `hash_query_text`: keep only the query's sha256, not its text."""

    request_id: str
    served_at: datetime
    status: str
    task_class: str
    criticality: str
    policy_version: str
    principal: RecordedKey
    query: str
    hash_query_text: bool
    filters: RequestFilters | None
    top_k: int
    vector_given: bool
    latency_ms: int
    served: list[ServedEntry]
    rejected: list[RejectedEntry]
