"""The scheduled refresh: fetch each due source from its `uri` and publish what changed.

- unchanged content (HTTP 304, or documents hashing to the active snapshot) raises `verified_at`;
- changed content goes through the ordinary publish, so it is all or nothing;
- a failure is written on the source (outcome, error, consecutive failures) and retried with
  backoff; it never lowers `verified_at` and never touches what is served.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import Select, exists, select

from freshness.auth.keys import Principal, Role
from freshness.db import read_scope, session_scope
from freshness.errors import Conflict, FreshnessError
from freshness.models import Source
from freshness.refresh.files import read_documents
from freshness.refresh.http import FetchError, fetch_url
from freshness.refresh.reach import SourceReach
from freshness.runtime import Runtime
from freshness.sources import lifecycle
from freshness.sources.publish import publish
from freshness.sources.schemas import PublishRequest

log = logging.getLogger("freshness.refresh")
SCHEDULER = Principal(key_id="scheduler", name="scheduled refresh", role=Role.ADMIN, owner=None)
RETRY_BASE_SECONDS = 30
RETRY_CAP_SECONDS = 3_600
BUSY_RETRY_SECONDS = 30
DUE_PER_RUN = 50


@dataclass(frozen=True)
class Fetch:
    documents: list[dict] | None  # None: the server says nothing changed
    etag: str | None = None
    last_modified: str | None = None


def backoff_seconds(failures: int, interval: int | None) -> int:
    """30 s after the first failure, doubling, never longer than the refresh interval (or an hour)."""
    cap = interval or RETRY_CAP_SECONDS
    return max(5, min(cap, RETRY_BASE_SECONDS * 2 ** max(0, failures - 1)))


def fetch_source(runtime: Runtime, uri: str, etag: str | None, last_modified: str | None) -> Fetch:
    """Read the source where it lives, within what the settings open to sources (checked again at every read)."""
    reach = SourceReach.of(runtime.settings)
    if uri.startswith("file:"):
        return Fetch(read_documents(reach.files.target(uri), reach.files))
    settings = runtime.settings
    fetched = fetch_url(
        uri,
        etag=etag,
        last_modified=last_modified,
        timeout=settings.refresh_timeout_seconds,
        max_bytes=settings.refresh_max_bytes,
        max_redirects=settings.refresh_max_redirects,
        addresses=reach.addresses,
    )
    return Fetch(fetched.documents, fetched.etag, fetched.last_modified)


def refresh_source(runtime: Runtime, source_id: str) -> str:
    """Refresh one source now; the outcome: published, unchanged, failed, busy or skipped."""
    now = runtime.clock.now()
    with session_scope(runtime.sessions) as session:
        source = session.get(Source, source_id)
        if source is None or source.retired_at is not None or not source.uri:
            return "skipped"
        uri = source.uri
        # Conditional requests only make sense when there is content to keep.
        has_active = source.active_snapshot_id is not None
        etag = source.http_etag if has_active else None
        last_modified = source.http_last_modified if has_active else None

    error: str | None = None
    fetched = Fetch(None)
    try:
        fetched = fetch_source(runtime, uri, etag, last_modified)
        if fetched.documents is None:
            outcome = "unchanged" if _confirm(runtime, source_id, now) else "failed"
            if outcome == "failed":
                error = "the server answered 304 Not Modified but the source has no active snapshot"
        else:
            body = msgspec.convert({"documents": fetched.documents}, PublishRequest)
            result = publish(runtime, SCHEDULER, source_id, body)
            outcome = "published" if result.changed else "unchanged"
    except Conflict as exc:
        outcome, error = "busy", exc.detail
    except FetchError as exc:
        outcome, error = "failed", str(exc)
    except FreshnessError as exc:
        outcome, error = "failed", exc.detail
    except OSError as exc:
        # Its message would carry the path; the type and reason are enough, and name nothing outside the roots.
        outcome, error = "failed", f"{type(exc).__name__}: {exc.strerror or 'the file could not be read'}"
    except msgspec.ValidationError as exc:
        outcome, error = "failed", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # recorded on the source rather than lost in a log
        log.exception("refresh of %s failed unexpectedly", source_id)
        outcome, error = "failed", f"{type(exc).__name__}: the refresh failed unexpectedly; see the service log"
    _record(runtime, source_id, now, outcome, error, fetched)
    if outcome == "failed":
        log.warning("refresh of %s failed: %s", source_id, error)
    return outcome


def _confirm(runtime: Runtime, source_id: str, now: datetime) -> bool:
    """The content is still current: raise `verified_at` of the active snapshot (never lower it)."""
    with session_scope(runtime.sessions) as session:
        source = session.get(Source, source_id, with_for_update=True)
        return source is not None and lifecycle.confirm_current(session, source, now) is not None


def _record(runtime: Runtime, source_id: str, now: datetime, outcome: str, error: str | None, fetched: Fetch) -> None:
    with session_scope(runtime.sessions) as session:
        source = session.get(Source, source_id, with_for_update=True)
        if source is None or source.retired_at is not None:
            return
        interval = source.refresh_interval_seconds
        source.last_refresh_at = now
        source.last_refresh_outcome = outcome
        if outcome == "failed":
            source.consecutive_failures = (source.consecutive_failures or 0) + 1
            source.last_refresh_error = (error or "")[:2000]
            source.next_refresh_at = now + timedelta(seconds=backoff_seconds(source.consecutive_failures, interval))
        elif outcome == "busy":
            source.next_refresh_at = now + timedelta(seconds=BUSY_RETRY_SECONDS)
        else:
            source.consecutive_failures = 0
            source.last_refresh_error = None
            source.next_refresh_at = now + timedelta(seconds=interval) if interval else None
            if source.uri and not source.uri.startswith("file:"):
                source.http_etag = fetched.etag
                source.http_last_modified = fetched.last_modified


def _due_query(now: datetime) -> Select[str]:
    return select(Source.id).where(
        Source.retired_at.is_(None),
        Source.uri.is_not(None),
        Source.next_refresh_at.is_not(None),
        Source.next_refresh_at <= now,
    )


def has_due(runtime: Runtime) -> bool:
    with read_scope(runtime.sessions) as session:
        return bool(session.scalar(select(exists(_due_query(runtime.clock.now())))))


def refresh_due(runtime: Runtime, keep_alive: Callable[[], None] = lambda: None) -> dict[str, int]:
    """Refresh every source whose `next_refresh_at` has come (oldest first, a bounded batch per run)."""
    with session_scope(runtime.sessions) as session:
        due = list(session.scalars(
            _due_query(runtime.clock.now()).order_by(Source.next_refresh_at, Source.id).limit(DUE_PER_RUN)
        ))
    counts = {"due": len(due), "published": 0, "unchanged": 0, "failed": 0, "busy": 0, "skipped": 0}
    for source_id in due:
        keep_alive()
        counts[refresh_source(runtime, source_id)] += 1
    return counts
