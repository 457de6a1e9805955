"""Registering, listing, updating and retiring sources. Functions flush; the caller commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from msgspec import UNSET
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from freshness.auth.guards import require_owner
from freshness.auth.keys import Principal
from freshness.errors import Conflict, InvalidInput, NotFound
from freshness.models import Snapshot, Source
from freshness.policy.durations import DurationError, parse_duration
from freshness.policy.model import Policy
from freshness.refresh.reach import CLOSED, SourceReach
from freshness.retrieval.active_cache import serving_changed
from freshness.sources import lifecycle, serving
from freshness.sources.schemas import SourceCreate, SourceUpdate
from freshness.vectorstore import VectorStore

MIN_REFRESH_SECONDS = 5


def _refresh_seconds(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        raise InvalidInput(f"refresh_interval: {exc}", field="refresh_interval") from exc
    if seconds < MIN_REFRESH_SECONDS:
        raise InvalidInput(f"refresh_interval must be at least {MIN_REFRESH_SECONDS}s", field="refresh_interval")
    return seconds


def _check_metadata(metadata: dict[str, Any]) -> None:
    if len(str(metadata)) > 64_000:
        raise InvalidInput("metadata is too large (64 kB at most)", field="metadata")


def require_known_class(policy: Policy, name: str, field: str = "source_class") -> None:
    """A source class the policy does not define is refused, naming the ones it does."""
    if name not in policy.source_classes:
        known = ", ".join(sorted(policy.source_classes))
        raise InvalidInput(f"source_class {name!r} is not defined by the policy; known classes: {known}", field=field)


# Built once: a publish reads its source twice, and building the select cost more than running it.
_SOURCE = select(Source).where(Source.id == bindparam("source_id"))
_SOURCE_LOCKED = _SOURCE.with_for_update()


def get_source(session: Session, source_id: str, *, for_update: bool = False) -> Source:
    source = session.scalar(_SOURCE_LOCKED if for_update else _SOURCE, {"source_id": source_id})
    if source is None:
        raise NotFound(f"no source with id {source_id!r}")
    return source


def active_snapshot(session: Session, source: Source) -> Snapshot | None:
    if source.active_snapshot_id is None:
        return None
    return session.get(Snapshot, source.active_snapshot_id)


def register_source(
    session: Session, principal: Principal, body: SourceCreate, policy: Policy, now: datetime,
    reach: SourceReach = CLOSED,
) -> Source:
    require_owner(principal, body.owner)
    require_known_class(policy, body.source_class)
    reach.check(body.uri)
    _check_metadata(body.metadata)
    interval = _refresh_seconds(body.refresh_interval)
    if session.get(Source, body.id) is not None:
        raise Conflict(f"source id {body.id!r} is already taken (retired sources keep their id)")
    source = Source(
        id=body.id,
        title=body.title,
        owner=body.owner,
        source_class=body.source_class,
        uri=body.uri,
        refresh_interval_seconds=interval,
        tags=sorted(set(body.tags)),
        metadata_=body.metadata,
        created_at=now,
        updated_at=now,
        consecutive_failures=0,
        # A source with a uri is due for refresh as soon as it is registered.
        next_refresh_at=now if body.uri else None,
    )
    session.add(source)
    session.flush()
    return source


def list_sources(
    session: Session,
    *,
    owner: str | None,
    source_class: str | None,
    include_retired: bool,
    after: str | None,
    limit: int,
) -> list[Source]:
    query = select(Source).order_by(Source.id).limit(limit + 1)
    if owner is not None:
        query = query.where(Source.owner == owner)
    if source_class is not None:
        query = query.where(Source.source_class == source_class)
    if not include_retired:
        query = query.where(Source.retired_at.is_(None))
    if after:
        query = query.where(Source.id > after)
    return list(session.scalars(query))


def update_source(
    session: Session,
    principal: Principal,
    source_id: str,
    body: SourceUpdate,
    policy: Policy,
    store: VectorStore,
    now: datetime,
    reach: SourceReach = CLOSED,
) -> Source:
    """Change the fields `body` names. A new `source_class` must be one the policy defines; from this
    transaction on the source is judged under it, and its points carry it for the store's filters."""
    source = get_source(session, source_id, for_update=True)
    require_owner(principal, source.owner)
    if source.retired_at is not None:
        raise Conflict(f"source {source_id!r} is retired and cannot be changed")
    served = (source.title, source.uri, source.source_class, list(source.tags or []))
    if body.title is not UNSET:
        source.title = body.title
    if body.uri is not UNSET:
        reach.check(body.uri)
        if body.uri != source.uri:
            # Another place: its validators and the old place's failures no longer apply.
            source.http_etag = None
            source.http_last_modified = None
            source.consecutive_failures = 0
            source.last_refresh_error = None
        source.uri = body.uri
        source.next_refresh_at = now if body.uri else None
    if body.refresh_interval is not UNSET:
        interval = _refresh_seconds(body.refresh_interval)
        if interval != source.refresh_interval_seconds and source.uri:
            # A new interval starts now: the next refresh is due at once, then every interval.
            source.next_refresh_at = now
        source.refresh_interval_seconds = interval
    if body.metadata is not UNSET:
        _check_metadata(body.metadata)
        source.metadata_ = body.metadata
    # Tags and the class filter searches, so the points must carry them too.
    payload: dict[str, Any] = {}
    if body.tags is not UNSET:
        tags = sorted(set(body.tags))
        if tags != list(source.tags or []):
            source.tags = payload["tags"] = tags
    if body.source_class is not UNSET:
        require_known_class(policy, body.source_class)
        if body.source_class != source.source_class:
            source.source_class = payload["source_class"] = body.source_class
    if payload:
        store.set_payload_for_source(source.id, payload)
    source.updated_at = now
    session.flush()
    if (source.title, source.uri, source.source_class, list(source.tags or [])) != served:
        # Answers carry these fields and searches filter on them: cached active sets are read again.
        serving_changed(session)
    return source


def retire_source(session: Session, principal: Principal, source_id: str,
                  now: datetime) -> tuple[Source, serving.StepDown | None]:
    """Stops serving at once: the active snapshot is superseded in this transaction. Once the caller has
    committed, it runs `serving.finish` with what this returns (None: it was retired already), so that
    searches stop finding the source's points; without it, reconciliation marks them."""
    source = get_source(session, source_id, for_update=True)
    require_owner(principal, source.owner)
    if source.retired_at is not None:
        return source, None
    previous = source.active_snapshot_id
    lifecycle.supersede(session, source, now)
    source.retired_at = now
    source.next_refresh_at = None
    session.flush()
    return source, serving.stop(session, source.id, previous)
