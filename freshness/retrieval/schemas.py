"""Wire shapes of POST /v1/retrieve."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

RequestId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]

# Each value is one bound parameter of a query (PostgreSQL takes at most 65,535) and is copied into
# the audit record; a task that needs more sources than this should use source classes or tags.
MAX_FILTER_VALUES = 1000
FilterValue = Annotated[str, Meta(max_length=128)]
FilterValues = Annotated[list[FilterValue], Meta(max_length=MAX_FILTER_VALUES)]


class RetrieveFilters(Struct, forbid_unknown_fields=True):
    source_ids: FilterValues = []
    source_classes: FilterValues = []
    tags: FilterValues = []


class RetrieveRequest(Struct, forbid_unknown_fields=True):
    query: str
    task_class: str
    top_k: int = 5
    filters: RetrieveFilters | None = None
    vector: list[float] | None = None
    request_id: RequestId | None = None


class Result(Struct):
    rank: int
    chunk_id: str
    text: str
    score: float
    source_id: str
    source_class: str
    snapshot_id: str
    snapshot_version: str | None
    document_id: str
    uri: str | None
    captured_at: datetime
    verified_at: datetime
    age_seconds: int
    freshness: str
    content_hash: str


class Rejected(Struct):
    chunk_id: str
    source_id: str
    snapshot_id: str
    reason: str
    age_seconds: int
    max_age_seconds: int


class RetrieveResponse(Struct):
    request_id: str
    status: str
    task_class: str
    policy_version: str
    served_at: datetime
    results: list[Result]
    rejected: list[Rejected]
