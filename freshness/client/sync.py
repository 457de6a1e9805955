"""`FreshnessClient`: the HTTP API from Python, answers decoded into the server's own wire Structs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx

from freshness import __version__
from freshness.audit.schemas import AuditRecord, AuditSummary, ChainReport, Checkpoint, PublicKey
from freshness.client import calls
from freshness.client.areas import AuditCalls, PolicyCalls, SnapshotCalls, SourceCalls
from freshness.client.calls import AuditFilters, Call, Moment, Page
from freshness.client.errors import FreshnessAPIError, ServiceUnreachable
from freshness.client.retry import Retry
from freshness.client.uploads import Progress, UploadMethods, is_too_large, too_large
from freshness.policy.schemas import PolicyOut, PolicyReloaded
from freshness.retrieval.schemas import RetrieveFilters, RetrieveResponse
from freshness.sources.schemas import (
    DocumentIn,
    FreshnessReport,
    PublishResult,
    SnapshotDetail,
    SnapshotOut,
    SourceOut,
    SourceUpdate,
)
from freshness.trust.schemas import (
    DryRunOut,
    OutcomeKind,
    OutcomeOut,
    ReplayOut,
    ReplayPolicy,
    TrustBy,
    TrustReport,
)

T = TypeVar("T")
Item = TypeVar("Item")
USER_AGENT = f"freshness-client/{__version__}"


def base_headers(api_key: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "Accept": "application/json", "User-Agent": USER_AGENT,
            **(extra or {})}


class FreshnessClient(UploadMethods):
    """`FreshnessClient(base_url, api_key)`; use it as a context manager, or `close()` it.

    Errors: a problem document raises its `FreshnessAPIError` subclass; no answer at all (connection
    refused, `timeout` seconds passed) raises `ServiceUnreachable`. Reads and other idempotent calls are
    sent again after a 503, as `retry` says; nothing else is."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 10.0, retry: Retry | None = None,
                 headers: Mapping[str, str] | None = None, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or Retry()
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport,
                                  headers=base_headers(api_key, headers))
        # The same calls by area, as SPEC §10 names them (client.sources.register, client.audit.search, ...).
        self.sources = SourceCalls(self)
        self.snapshots = SnapshotCalls(self, self.snapshot_history)
        self.audit = AuditCalls(self)
        self.policy = PolicyCalls(self)

    def _send(self, call: Call[T]) -> T:
        """The one place a call goes out: retries, timeouts and decoding."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(call.method, call.path, params=call.query,
                                              content=call.encoded_body(), headers=call.request_headers())
            except httpx.ConnectError as exc:
                if self.retry.again(call.idempotent, attempt):
                    time.sleep(self.retry.delay(attempt))
                    continue
                raise ServiceUnreachable(f"cannot connect to {self.base_url}: {exc}") from exc
            except httpx.TransportError as exc:
                raise ServiceUnreachable(f"no answer from {self.base_url}{call.path}: {exc!r}") from exc
            if response.status_code == 503 and self.retry.again(call.idempotent, attempt):
                time.sleep(self.retry.delay(attempt, response.headers.get("retry-after")))
                continue
            return calls.decode(call, response.status_code, response.reason_phrase, response.content,
                                response.headers)

    def _items(self, page: Callable[[str | None], Call[Page[Item]]]) -> Iterator[Item]:
        """Every item of every page, fetching the next page only when the caller gets there."""
        cursor: str | None = None
        while True:
            answer = self._send(page(cursor))
            yield from answer.items
            cursor = answer.next_cursor
            if not cursor:
                return

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FreshnessClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # Retrieval

    def retrieve(self, query: str, task_class: str, *, top_k: int = 5,
                 filters: RetrieveFilters | Mapping[str, Any] | None = None, vector: Sequence[float] | None = None,
                 request_id: str | None = None) -> RetrieveResponse:
        """Context for a task. `status` says whether to use it: `insufficient_context` means take the fallback
        (see `InsufficientContext.check`). `request_id` goes as X-Request-ID; the service makes one when absent."""
        return self._send(calls.retrieve(query, task_class, top_k=top_k, filters=filters, vector=vector,
                                         request_id=request_id))

    # Sources

    def register_source(self, source_id: str, *, title: str, owner: str, source_class: str, uri: str | None = None,
                        refresh_interval: str | None = None, tags: Sequence[str] | None = None,
                        metadata: Mapping[str, Any] | None = None) -> SourceOut:
        return self._send(calls.register_source(source_id, title=title, owner=owner, source_class=source_class,
                                                uri=uri, refresh_interval=refresh_interval, tags=tags,
                                                metadata=metadata))

    def get_source(self, source_id: str) -> SourceOut:
        return self._send(calls.get_source(source_id))

    def list_sources(self, *, owner: str | None = None, source_class: str | None = None,
                     include_retired: bool = False, page_size: int = 100) -> Iterator[SourceOut]:
        return self._items(lambda cursor: calls.source_page(owner=owner, source_class=source_class,
                                                            include_retired=include_retired, limit=page_size,
                                                            cursor=cursor))

    def update_source(self, source_id: str, changes: SourceUpdate | Mapping[str, Any] | None = None,
                      **fields: Any) -> SourceOut:
        """`update_source("faq", title="Shipping FAQ")`, or the changes as a SourceUpdate or a mapping."""
        return self._send(calls.update_source(source_id, changes, fields))

    def retire_source(self, source_id: str) -> SourceOut:
        return self._send(calls.retire_source(source_id))

    # Snapshots

    def publish(self, source_id: str, documents: Sequence[DocumentIn | Mapping[str, Any]], *,
                version: str | None = None, captured_at: Moment | None = None,
                valid_until: Moment | None = None, progress: Progress | None = None) -> PublishResult:
        """`changed` is False when the content equals the active snapshot's (its verified_at was raised).
        A body past `max_body` bytes (or one the service refuses with 413) goes as a staged upload in
        batches under the service's limit; `progress(sent, total)` follows its documents."""
        call = calls.publish(source_id, documents, version=version, captured_at=captured_at, valid_until=valid_until)
        if not too_large(call, self.max_body):
            try:
                return self._send(call)
            except FreshnessAPIError as error:
                if not is_too_large(error):
                    raise
        return self.publish_staged(source_id, documents, version=version, captured_at=captured_at,
                                   valid_until=valid_until, progress=progress)

    def snapshot_history(self, source_id: str, *, page_size: int = 100) -> Iterator[SnapshotOut]:
        """The source's snapshot history, newest first."""
        return self._items(lambda cursor: calls.snapshot_page(source_id, limit=page_size, cursor=cursor))

    def get_snapshot(self, snapshot_id: str) -> SnapshotDetail:
        return self._send(calls.get_snapshot(snapshot_id))

    def activate(self, snapshot_id: str, *, source_id: str | None = None) -> SnapshotOut:
        """Roll back or forward; with `source_id`, only if the snapshot belongs to that source."""
        return self._send(calls.activate(snapshot_id, source_id=source_id))

    def verify(self, source_id: str) -> SnapshotOut:
        """Confirm the active content is still current: its verified_at becomes now."""
        return self._send(calls.verify(source_id))

    def freshness(self, *, status: str | None = None, source_class: str | None = None,
                  owner: str | None = None, page_size: int = 1000) -> FreshnessReport:
        """The freshness report of every live source (all pages in one)."""
        def page(cursor: str | None) -> Call[FreshnessReport]:
            return calls.freshness_page(status=status, source_class=source_class, owner=owner, limit=page_size,
                                        cursor=cursor)

        pages = [self._send(page(None))]
        while pages[-1].next_cursor:
            pages.append(self._send(page(pages[-1].next_cursor)))
        return calls.whole_report(pages)

    # Policy

    def get_policy(self) -> PolicyOut:
        return self._send(calls.get_policy())

    def reload_policy(self) -> PolicyReloaded:
        return self._send(calls.reload_policy())

    # Audit

    def get_audit_record(self, request_id: str) -> AuditRecord:
        return self._send(calls.audit_record(request_id))

    def search_audit(self, *, snapshot_id: str | None = None, source_id: str | None = None,
                     task_class: str | None = None, status: str | None = None, since: Moment | None = None,
                     until: Moment | None = None, page_size: int = 100) -> Iterator[AuditSummary]:
        """Newest first, every page."""
        filters = AuditFilters(snapshot_id, source_id, task_class, status, since, until)
        return self._items(lambda cursor: calls.audit_page(filters, limit=page_size, cursor=cursor))

    def export_audit(self, *, format: Literal["jsonl", "csv"] = "jsonl", snapshot_id: str | None = None,
                     source_id: str | None = None, task_class: str | None = None, status: str | None = None,
                     since: Moment | None = None, until: Moment | None = None,
                     page_size: int = 1000) -> Iterator[str]:
        """Every matching record as lines: whole records as JSON Lines, or summaries as CSV (one header)."""
        filters = AuditFilters(snapshot_id, source_id, task_class, status, since, until)
        cursor: str | None = None
        first = True
        while True:
            page = self._send(calls.audit_export_page(filters, format=format, limit=page_size, cursor=cursor))
            yield from calls.export_lines(page, first=first, format=format)
            first, cursor = False, page.next_cursor
            if not cursor:
                return

    def verify_audit(self, checkpoint: Checkpoint | None = None) -> ChainReport:
        """Check the hash chain; with a checkpoint kept earlier, also that the log still holds it."""
        return self._send(calls.verify_audit(checkpoint))

    def checkpoint(self) -> Checkpoint:
        return self._send(calls.checkpoint())

    def public_key(self) -> PublicKey:
        return self._send(calls.public_key())

    # Evidence (SPEC §12)

    def replay(self, request_id: str, *, policy: ReplayPolicy = "current") -> ReplayOut:
        """Re-run a recorded request against today's active snapshots; nothing is recorded."""
        return self._send(calls.replay(request_id, policy))

    def record_outcome(self, request_id: str, outcome: OutcomeKind, *, edit_seconds: float | None = None,
                       note: str | None = None) -> OutcomeOut:
        """What became of the answer built from this request's context; one per request (a second is a 409)."""
        return self._send(calls.record_outcome(request_id, outcome, edit_seconds=edit_seconds, note=note))

    def trust(self, *, since: Moment = "7d", until: Moment | None = None, by: TrustBy = "task_class",
              task_class: str | None = None) -> TrustReport:
        return self._send(calls.trust(since=since, until=until, by=by, task_class=task_class))

    def policy_dry_run(self, policy: str, *, since: Moment, until: Moment | None = None,
                       task_classes: Sequence[str] | None = None) -> DryRunOut:
        """Judge recorded traffic under a candidate policy (TOML text); nothing changes."""
        return self._send(calls.policy_dry_run(policy, since=since, until=until, task_classes=task_classes))
