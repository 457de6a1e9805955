"""Wire shapes of POST /v1/retrieve."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
REQUEST_ID_RULE = "1-128 characters of A-Za-z0-9._:-"
RequestId = Annotated[str, Meta(pattern=REQUEST_ID_PATTERN, description=f"{REQUEST_ID_RULE}; generated when absent")]
MAX_TOP_K = 100
TopK = Annotated[int, Meta(ge=1, le=MAX_TOP_K)]
RetrievalStatus = Literal["ok", "flagged", "insufficient_context"]
FreshnessLabel = Literal["fresh", "warn", "stale", "expired"]

# Each value is one bound parameter of a query (PostgreSQL takes at most 65,535) and is copied into
# the audit record; a task that needs more sources than this should use source classes or tags.
MAX_FILTER_VALUES = 1000
FilterValue = Annotated[str, Meta(max_length=128)]
FilterValues = Annotated[list[FilterValue], Meta(max_length=MAX_FILTER_VALUES)]


class RetrieveFilters(Struct, forbid_unknown_fields=True):
    """Narrow the candidates: each list given must match (tags: any one of them)."""

    source_ids: FilterValues = []
    source_classes: FilterValues = []
    tags: FilterValues = []


class RetrieveRequest(Struct, forbid_unknown_fields=True):
    """Context for a task: `vector` adds a dense query to the BM25 one."""

    query: str
    task_class: str
    top_k: TopK = 5
    filters: RetrieveFilters | None = None
    vector: list[float] | None = None
    request_id: RequestId | None = None


class Result(Struct):
    """A chunk served, with its provenance and its freshness under the task's policy."""

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
    freshness: FreshnessLabel
    content_hash: str


class Rejected(Struct):
    """A candidate withheld because it was too old for the task (SPEC §3 rules 3 and 5)."""

    chunk_id: str
    source_id: str
    snapshot_id: str
    reason: Literal["stale", "expired"]
    age_seconds: int
    max_age_seconds: int


class RetrieveResponse(Struct):
    """The answer; `insufficient_context`: too few fresh chunks passed, take the fallback."""

    request_id: str
    status: RetrievalStatus
    task_class: str
    policy_version: str
    served_at: datetime
    results: list[Result]
    rejected: list[Rejected]
