"""`AsyncFreshnessClient`: `FreshnessClient`'s methods for asyncio, sending the same calls (freshness.client.calls)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx

from freshness.audit.schemas import AuditRecord, AuditSummary, ChainReport, Checkpoint, PublicKey
from freshness.client import calls
from freshness.client.areas import AuditCalls, PolicyCalls, SnapshotCalls, SourceCalls
from freshness.client.calls import AuditFilters, Call, Moment, Page
from freshness.client.errors import FreshnessAPIError, ServiceUnreachable
from freshness.client.retry import Retry
from freshness.client.sync import base_headers
from freshness.client.uploads import AsyncUploadMethods, Progress, is_too_large, too_large
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


class AsyncFreshnessClient(AsyncUploadMethods):
    """`AsyncFreshnessClient(base_url, api_key)`; `async with` it, or `await close()`. Errors and retries as
    in `FreshnessClient`; the list methods are async iterators."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 10.0, retry: Retry | None = None,
                 headers: Mapping[str, str] | None = None, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or Retry()
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport,
                                       headers=base_headers(api_key, headers))
        # The same calls by area, as SPEC §10 names them (client.sources.register, client.audit.search, ...).
        self.sources = SourceCalls(self)
        self.snapshots = SnapshotCalls(self, self.snapshot_history)
        self.audit = AuditCalls(self)
        self.policy = PolicyCalls(self)

    async def _send(self, call: Call[T]) -> T:
        """The one place a call goes out: retries, timeouts and decoding."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(call.method, call.path, params=call.query,
                                                    content=call.encoded_body(), headers=call.request_headers())
            except httpx.ConnectError as exc:
                if self.retry.again(call.idempotent, attempt):
                    await asyncio.sleep(self.retry.delay(attempt))
                    continue
                raise ServiceUnreachable(f"cannot connect to {self.base_url}: {exc}") from exc
            except httpx.TransportError as exc:
                raise ServiceUnreachable(f"no answer from {self.base_url}{call.path}: {exc!r}") from exc
            if response.status_code == 503 and self.retry.again(call.idempotent, attempt):
                await asyncio.sleep(self.retry.delay(attempt, response.headers.get("retry-after")))
                continue
            return calls.decode(call, response.status_code, response.reason_phrase, response.content,
                                response.headers)

    async def _items(self, page: Callable[[str | None], Call[Page[Item]]]) -> AsyncIterator[Item]:
        """Every item of every page, fetching the next page only when the caller gets there."""
        cursor: str | None = None
        while True:
            answer = await self._send(page(cursor))
            for item in answer.items:
                yield item
            cursor = answer.next_cursor
            if not cursor:
                return

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncFreshnessClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, value: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()

    # Retrieval

    async def retrieve(self, query: str, task_class: str, *, top_k: int = 5,
                       filters: RetrieveFilters | Mapping[str, Any] | None = None,
                       vector: Sequence[float] | None = None, request_id: str | None = None) -> RetrieveResponse:
        """Context for a task. `status` says whether to use it: `insufficient_context` means take the fallback
        (see `InsufficientContext.check`). `request_id` goes as X-Request-ID; the service makes one when absent."""
        return await self._send(calls.retrieve(query, task_class, top_k=top_k, filters=filters, vector=vector,
                                               request_id=request_id))

    # Sources

    async def register_source(self, source_id: str, *, title: str, owner: str, source_class: str,
                              uri: str | None = None, refresh_interval: str | None = None,
                              tags: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None
                              ) -> SourceOut:
        return await self._send(calls.register_source(source_id, title=title, owner=owner, source_class=source_class,
                                                      uri=uri, refresh_interval=refresh_interval, tags=tags,
                                                      metadata=metadata))

    async def get_source(self, source_id: str) -> SourceOut:
        return await self._send(calls.get_source(source_id))

    def list_sources(self, *, owner: str | None = None, source_class: str | None = None,
                     include_retired: bool = False, page_size: int = 100) -> AsyncIterator[SourceOut]:
        return self._items(lambda cursor: calls.source_page(owner=owner, source_class=source_class,
                                                            include_retired=include_retired, limit=page_size,
                                                            cursor=cursor))

    async def update_source(self, source_id: str, changes: SourceUpdate | Mapping[str, Any] | None = None,
                            **fields: Any) -> SourceOut:
        """`update_source("faq", title="Shipping FAQ")`, or the changes as a SourceUpdate or a mapping."""
        return await self._send(calls.update_source(source_id, changes, fields))

    async def retire_source(self, source_id: str) -> SourceOut:
        return await self._send(calls.retire_source(source_id))

    # Snapshots

    async def publish(self, source_id: str, documents: Sequence[DocumentIn | Mapping[str, Any]], *,
                      version: str | None = None, captured_at: Moment | None = None,
                      valid_until: Moment | None = None, progress: Progress | None = None) -> PublishResult:
        """As `FreshnessClient.publish`: past the body limit, a staged upload."""
        call = calls.publish(source_id, documents, version=version, captured_at=captured_at, valid_until=valid_until)
        if not too_large(call, self.max_body):
            try:
                return await self._send(call)
            except FreshnessAPIError as error:
                if not is_too_large(error):
                    raise
        return await self.publish_staged(source_id, documents, version=version, captured_at=captured_at,
                                         valid_until=valid_until, progress=progress)

    def snapshot_history(self, source_id: str, *, page_size: int = 100) -> AsyncIterator[SnapshotOut]:
        """The source's snapshot history, newest first."""
        return self._items(lambda cursor: calls.snapshot_page(source_id, limit=page_size, cursor=cursor))

    async def get_snapshot(self, snapshot_id: str) -> SnapshotDetail:
        return await self._send(calls.get_snapshot(snapshot_id))

    async def activate(self, snapshot_id: str, *, source_id: str | None = None) -> SnapshotOut:
        """Roll back or forward; with `source_id`, only if the snapshot belongs to that source."""
        return await self._send(calls.activate(snapshot_id, source_id=source_id))

    async def verify(self, source_id: str) -> SnapshotOut:
        """Confirm the active content is still current: its verified_at becomes now."""
        return await self._send(calls.verify(source_id))

    async def freshness(self, *, status: str | None = None, source_class: str | None = None,
                        owner: str | None = None, page_size: int = 1000) -> FreshnessReport:
        """The freshness report of every live source (all pages in one)."""
        def page(cursor: str | None) -> Call[FreshnessReport]:
            return calls.freshness_page(status=status, source_class=source_class, owner=owner, limit=page_size,
                                        cursor=cursor)

        pages = [await self._send(page(None))]
        while pages[-1].next_cursor:
            pages.append(await self._send(page(pages[-1].next_cursor)))
        return calls.whole_report(pages)

    # Policy

    async def get_policy(self) -> PolicyOut:
        return await self._send(calls.get_policy())

    async def reload_policy(self) -> PolicyReloaded:
        return await self._send(calls.reload_policy())

    # Audit

    async def get_audit_record(self, request_id: str) -> AuditRecord:
        return await self._send(calls.audit_record(request_id))

    def search_audit(self, *, snapshot_id: str | None = None, source_id: str | None = None,
                     task_class: str | None = None, status: str | None = None, since: Moment | None = None,
                     until: Moment | None = None, page_size: int = 100) -> AsyncIterator[AuditSummary]:
        """Newest first, every page."""
        filters = AuditFilters(snapshot_id, source_id, task_class, status, since, until)
        return self._items(lambda cursor: calls.audit_page(filters, limit=page_size, cursor=cursor))

    async def export_audit(self, *, format: Literal["jsonl", "csv"] = "jsonl", snapshot_id: str | None = None,
                           source_id: str | None = None, task_class: str | None = None, status: str | None = None,
                           since: Moment | None = None, until: Moment | None = None,
                           page_size: int = 1000) -> AsyncIterator[str]:
        """Every matching record as lines: whole records as JSON Lines, or summaries as CSV (one header)."""
        filters = AuditFilters(snapshot_id, source_id, task_class, status, since, until)
        cursor: str | None = None
        first = True
        while True:
            page = await self._send(calls.audit_export_page(filters, format=format, limit=page_size,
                                                            cursor=cursor))
            for line in calls.export_lines(page, first=first, format=format):
                yield line
            first, cursor = False, page.next_cursor
            if not cursor:
                return

    async def verify_audit(self, checkpoint: Checkpoint | None = None) -> ChainReport:
        """Check the hash chain; with a checkpoint kept earlier, also that the log still holds it."""
        return await self._send(calls.verify_audit(checkpoint))

    async def checkpoint(self) -> Checkpoint:
        return await self._send(calls.checkpoint())

    async def public_key(self) -> PublicKey:
        return await self._send(calls.public_key())

    # Evidence (SPEC §12)

    async def replay(self, request_id: str, *, policy: ReplayPolicy = "current") -> ReplayOut:
        """Re-run a recorded request against today's active snapshots; nothing is recorded."""
        return await self._send(calls.replay(request_id, policy))

    async def record_outcome(self, request_id: str, outcome: OutcomeKind, *, edit_seconds: float | None = None,
                             note: str | None = None) -> OutcomeOut:
        """What became of the answer built from this request's context; one per request (a second is a 409)."""
        return await self._send(calls.record_outcome(request_id, outcome, edit_seconds=edit_seconds, note=note))

    async def trust(self, *, since: Moment = "7d", until: Moment | None = None, by: TrustBy = "task_class",
                    task_class: str | None = None) -> TrustReport:
        return await self._send(calls.trust(since=since, until=until, by=by, task_class=task_class))

    async def policy_dry_run(self, policy: str, *, since: Moment, until: Moment | None = None,
                             task_classes: Sequence[str] | None = None) -> DryRunOut:
        """Judge recorded traffic under a candidate policy (TOML text); nothing changes."""
        return await self._send(calls.policy_dry_run(policy, since=since, until=until, task_classes=task_classes))
