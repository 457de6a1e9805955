"""Snapshot history, detail, verify and activate (roll back or forward). Functions flush only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from freshness.auth.guards import require_owner
from freshness.auth.keys import Principal
from freshness.errors import Conflict, InvalidInput, NotFound
from freshness.models import Document, Snapshot
from freshness.sources import lifecycle, serving
from freshness.sources.service import get_source
from freshness.vectorstore import VectorStore


def get_snapshot(session: Session, snapshot_id: str) -> Snapshot:
    snapshot = session.get(Snapshot, snapshot_id)
    if snapshot is None:
        raise NotFound(f"no snapshot with id {snapshot_id!r}")
    return snapshot


def snapshot_documents(session: Session, snapshot_id: str) -> list[Document]:
    query = select(Document).where(Document.snapshot_id == snapshot_id).order_by(Document.position)
    return list(session.scalars(query))


def history(session: Session, source_id: str, before: str | None, limit: int) -> list[Snapshot]:
    get_source(session, source_id)
    query = select(Snapshot).where(Snapshot.source_id == source_id).order_by(Snapshot.id.desc()).limit(limit + 1)
    if before:
        query = query.where(Snapshot.id < before)
    return list(session.scalars(query))


def verify(session: Session, principal: Principal, source_id: str, now: datetime) -> Snapshot:
    """The owner confirms the active content is still current: `verified_at` becomes now."""
    source = get_source(session, source_id, for_update=True)
    require_owner(principal, source.owner)
    if source.retired_at is not None:
        raise Conflict(f"source {source_id!r} is retired")
    active = lifecycle.confirm_current(session, source, now)
    if active is None:
        raise Conflict(f"source {source_id!r} has no active snapshot to verify; publish one first")
    return active


def activate(
    session: Session, principal: Principal, snapshot_id: str, now: datetime, store: VectorStore,
    expected_source: str | None = None,
) -> tuple[Snapshot, serving.StepDown]:
    """Make a retained snapshot the active one again; the current one is superseded.

    Its points that were marked dead serve again before it does. Once the caller has committed, it runs
    `serving.step_down` with what this returns, in a transaction of its own: the points only the superseded
    snapshot served are marked dead."""
    snapshot = get_snapshot(session, snapshot_id)
    if expected_source is not None and snapshot.source_id != expected_source:
        raise InvalidInput(
            f"snapshot {snapshot_id!r} belongs to source {snapshot.source_id!r}, not {expected_source!r}",
            field="source_id",
        )
    # Source row first, then its snapshots: the one lock order of every writer and of retrieval.
    source = get_source(session, snapshot.source_id, for_update=True)
    require_owner(principal, source.owner)
    # Locked too: a purge that got there first has made it `purged`, and that is what is read here.
    session.refresh(snapshot, with_for_update=True)
    previous = source.active_snapshot_id
    activated = lifecycle.activate_retained(session, source, snapshot, now)
    return activated, serving.take_over(session, store, source.id, previous, snapshot_id, published=False)
