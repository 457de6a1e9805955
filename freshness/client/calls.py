"""Every operation of the HTTP API as a `Call`: method, path, query, body and the Struct its answer decodes
into. No I/O here: the sync and the async client send the same calls, so an operation is written once and
each client method is a line that sends it.

A call is `idempotent` when sending it twice leaves the service as sending it once (reads, retire,
verify, activate, a policy reload): only those are sent again after a 503. A publish or a retrieval
is never repeated by the client; the application decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, cast
from urllib.parse import quote

import msgspec

from freshness.audit.schemas import AuditPage, AuditRecord, ChainReport, Checkpoint, PublicKey
from freshness.client.errors import api_error
from freshness.policy.schemas import PolicyOut, PolicyReloaded
from freshness.retrieval.schemas import RetrieveFilters, RetrieveResponse
from freshness.sources.schemas import (
    DocumentIn,
    FreshnessReport,
    PublishResult,
    SnapshotDetail,
    SnapshotOut,
    SnapshotPage,
    SourceOut,
    SourcePage,
    SourceUpdate,
)
from freshness.trust.schemas import (
    DryRunOut,
    DryRunRequest,
    OutcomeCreate,
    OutcomeKind,
    OutcomeOut,
    ReplayOut,
    ReplayPolicy,
    ReplayRequest,
    TrustBy,
    TrustReport,
)

T = TypeVar("T")
Answer = TypeVar("Answer", covariant=True)
Item = TypeVar("Item", covariant=True)
Query = Mapping[str, str | int | bool | None]
Moment = datetime | str


class Page(Protocol[Item]):
    """A list answer: its items and the cursor of the next page (None on the last)."""

    @property
    def items(self) -> Sequence[Item]: ...

    @property
    def next_cursor(self) -> str | None: ...


@dataclass(frozen=True)
class RawPage:
    """One page of an export (JSON Lines or CSV), as the service wrote it."""

    content: bytes
    next_cursor: str | None


@dataclass(frozen=True)
class Call(Generic[Answer]):
    method: str
    path: str
    result: type[Answer]
    params: Query | None = None
    body: Any = None
    headers: Mapping[str, str] | None = None
    idempotent: bool = False

    @property
    def query(self) -> dict[str, str | int]:
        """The query parameters that are set, booleans as the service reads them."""
        return {k: (str(v).lower() if isinstance(v, bool) else v)
                for k, v in (self.params or {}).items() if v is not None}

    def encoded_body(self) -> bytes | None:
        return None if self.body is None else msgspec.json.encode(self.body)

    def request_headers(self) -> dict[str, str]:
        headers = dict(self.headers or {})
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        return headers


def _read(path: str, result: type[T], params: Query | None = None) -> Call[T]:
    return Call("GET", path, result, params=params, idempotent=True)


def _segment(value: str) -> str:
    """An id as one path segment: a request id may hold `:`, and nothing may step out of its path."""
    return quote(value, safe="")


def _moment(value: Moment | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def decode(call: Call[T], status: int, reason: str, content: bytes, headers: Mapping[str, str]) -> T:
    """The answer as the call's Struct, or the typed error for its problem document."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if status >= 400:
        raise api_error(status, reason, content, lowered)
    if call.result is RawPage:
        return cast(T, RawPage(content, lowered.get("x-next-cursor")))
    return msgspec.json.decode(content, type=call.result)


# Retrieval

def retrieve(query: str, task_class: str, *, top_k: int, filters: RetrieveFilters | Mapping[str, Any] | None,
             vector: Sequence[float] | None, request_id: str | None) -> Call[RetrieveResponse]:
    body: dict[str, Any] = {"query": query, "task_class": task_class, "top_k": top_k}
    if filters is not None:
        body["filters"] = filters
    if vector is not None:
        body["vector"] = list(vector)
    headers = {"X-Request-ID": request_id} if request_id is not None else None
    return Call("POST", "/v1/retrieve", RetrieveResponse, body=body, headers=headers)


# Sources

def register_source(source_id: str, *, title: str, owner: str, source_class: str, uri: str | None,
                    refresh_interval: str | None, tags: Sequence[str] | None,
                    metadata: Mapping[str, Any] | None) -> Call[SourceOut]:
    given = {"uri": uri, "refresh_interval": refresh_interval,
             "tags": list(tags) if tags is not None else None, "metadata": metadata}
    body = {"id": source_id, "title": title, "owner": owner, "source_class": source_class,
            **{k: v for k, v in given.items() if v is not None}}
    return Call("POST", "/v1/sources", SourceOut, body=body)


def get_source(source_id: str) -> Call[SourceOut]:
    return _read(f"/v1/sources/{_segment(source_id)}", SourceOut)


def source_page(*, owner: str | None, source_class: str | None, include_retired: bool, limit: int,
                cursor: str | None) -> Call[SourcePage]:
    return _read("/v1/sources", SourcePage, {"owner": owner, "source_class": source_class,
                                             "include_retired": include_retired, "limit": limit, "cursor": cursor})


def update_source(source_id: str, changes: SourceUpdate | Mapping[str, Any] | None,
                  fields: Mapping[str, Any]) -> Call[SourceOut]:
    """Only the fields given are sent (a SourceUpdate leaves out those still UNSET, keywords add to it):
    `uri=None` clears the uri, a field left out keeps its value."""
    given = msgspec.to_builtins(changes) if isinstance(changes, SourceUpdate) else dict(changes or {})
    body = {**given, **fields}
    return Call("PATCH", f"/v1/sources/{_segment(source_id)}", SourceOut, body=body)


def retire_source(source_id: str) -> Call[SourceOut]:
    # A retired source stays retired: a second DELETE answers the same source.
    return Call("DELETE", f"/v1/sources/{_segment(source_id)}", SourceOut, idempotent=True)


# Snapshots

def publish(source_id: str, documents: Sequence[DocumentIn | Mapping[str, Any]], *, version: str | None,
            captured_at: Moment | None, valid_until: Moment | None) -> Call[PublishResult]:
    given = {"version": version, "captured_at": _moment(captured_at), "valid_until": _moment(valid_until)}
    body = {"documents": list(documents), **{k: v for k, v in given.items() if v is not None}}
    return Call("POST", f"/v1/sources/{_segment(source_id)}/snapshots", PublishResult, body=body)


def snapshot_page(source_id: str, *, limit: int, cursor: str | None) -> Call[SnapshotPage]:
    return _read(f"/v1/sources/{_segment(source_id)}/snapshots", SnapshotPage, {"limit": limit, "cursor": cursor})


def get_snapshot(snapshot_id: str) -> Call[SnapshotDetail]:
    return _read(f"/v1/snapshots/{_segment(snapshot_id)}", SnapshotDetail)


def activate(snapshot_id: str, *, source_id: str | None) -> Call[SnapshotOut]:
    # Activating the active snapshot changes nothing, so a repeat is safe.
    body = {"source_id": source_id} if source_id is not None else None
    return Call("POST", f"/v1/snapshots/{_segment(snapshot_id)}/activate", SnapshotOut, body=body, idempotent=True)


def verify(source_id: str) -> Call[SnapshotOut]:
    # A repeat only raises verified_at to a later now, as a later verify would.
    return Call("POST", f"/v1/sources/{_segment(source_id)}/verify", SnapshotOut, idempotent=True)


def freshness_page(*, status: str | None, source_class: str | None, owner: str | None, limit: int,
                   cursor: str | None) -> Call[FreshnessReport]:
    return _read("/v1/freshness", FreshnessReport, {"status": status, "source_class": source_class, "owner": owner,
                                                    "limit": limit, "cursor": cursor})


# Policy

def get_policy() -> Call[PolicyOut]:
    return _read("/v1/policy", PolicyOut)


def reload_policy() -> Call[PolicyReloaded]:
    # The file is read again each time: a repeat puts the same file in force.
    return Call("POST", "/v1/policy/reload", PolicyReloaded, idempotent=True)


# Audit

def audit_record(request_id: str) -> Call[AuditRecord]:
    return _read(f"/v1/audit/retrievals/{_segment(request_id)}", AuditRecord)


@dataclass(frozen=True)
class AuditFilters:
    """The filters of an audit search or export; each one given must match."""

    snapshot_id: str | None = None
    source_id: str | None = None
    task_class: str | None = None
    status: str | None = None
    since: Moment | None = None
    until: Moment | None = None

    def query(self) -> dict[str, str | None]:
        return {"snapshot_id": self.snapshot_id, "source_id": self.source_id, "task_class": self.task_class,
                "status": self.status, "since": _moment(self.since), "until": _moment(self.until)}


def audit_page(filters: AuditFilters, *, limit: int, cursor: str | None) -> Call[AuditPage]:
    return _read("/v1/audit/retrievals", AuditPage, {**filters.query(), "limit": limit, "cursor": cursor})


def audit_export_page(filters: AuditFilters, *, format: str, limit: int, cursor: str | None) -> Call[RawPage]:
    return _read("/v1/audit/retrievals", RawPage,
                 {**filters.query(), "format": format, "limit": limit, "cursor": cursor})


def export_lines(page: RawPage, *, first: bool, format: str) -> list[str]:
    """The lines of one export page; a CSV page after the first drops the header line it repeats."""
    lines = page.content.decode("utf-8").splitlines()
    return lines[1:] if format == "csv" and not first else lines


def whole_report(pages: Sequence[FreshnessReport]) -> FreshnessReport:
    """Every page's items in one report; counts and critical_blocked already cover them all."""
    items = [item for page in pages for item in page.items]
    return msgspec.structs.replace(pages[0], items=items, next_cursor=None)


def verify_audit(checkpoint: Checkpoint | None) -> Call[ChainReport]:
    params = msgspec.structs.asdict(checkpoint) if checkpoint is not None else None
    return _read("/v1/audit/verify", ChainReport, params)


def checkpoint() -> Call[Checkpoint]:
    return _read("/v1/audit/checkpoint", Checkpoint)


def public_key() -> Call[PublicKey]:
    return _read("/v1/audit/public-key", PublicKey)


# Evidence (SPEC §12)

def replay(request_id: str, policy: ReplayPolicy = "current") -> Call[ReplayOut]:
    # A replay records nothing, so sending it again is safe.
    return Call("POST", f"/v1/audit/retrievals/{_segment(request_id)}/replay", ReplayOut,
                body=ReplayRequest(policy=policy), idempotent=True)


def record_outcome(request_id: str, outcome: OutcomeKind, *, edit_seconds: float | None = None,
                   note: str | None = None) -> Call[OutcomeOut]:
    # Not sent again after a 503: if the first had been stored, the second would be a 409.
    return Call("POST", f"/v1/retrievals/{_segment(request_id)}/outcome", OutcomeOut,
                body=OutcomeCreate(outcome=outcome, edit_seconds=edit_seconds, note=note))


def trust(*, since: Moment = "7d", until: Moment | None = None, by: TrustBy = "task_class",
          task_class: str | None = None) -> Call[TrustReport]:
    return _read("/v1/trust", TrustReport, {"since": _moment(since), "until": _moment(until), "by": by,
                                           "task_class": task_class})


def policy_dry_run(policy: str, *, since: Moment, until: Moment | None = None,
                   task_classes: Sequence[str] | None = None) -> Call[DryRunOut]:
    # A dry run changes nothing, so sending it again is safe.
    body = DryRunRequest(policy=policy, since=cast(str, _moment(since)), until=_moment(until),
                         task_classes=list(task_classes) if task_classes is not None else None)
    return Call("POST", "/v1/policy/dry-run", DryRunOut, body=body, idempotent=True)
