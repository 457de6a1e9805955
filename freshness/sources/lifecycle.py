"""The snapshot lifecycle: `ingesting` → `active` → `superseded` → `purged`, or `ingesting` → `failed`.

Every change of the snapshot a source serves, of `verified_at` and of the dense vector size is made
here, and each state change but the purge of a superseded snapshot's points (`jobs/purge.py`).
Each function only flushes: the caller's boundary commits.

Invariants a caller must not break:
- A caller that changes which snapshot of a source is active first locks the source row
  (`get_source(..., for_update=True)`), then reads or locks its snapshots. Every writer and every
  retrieval takes that one order, so on PostgreSQL they never wait for each other in a circle.
- A live source has at most one `active` snapshot (the database also enforces it), and the
  source's `active_snapshot_id` names it; a retired source names none.
- `verified_at` only goes up. A `failed` snapshot never becomes active.
- Every change of what retrieval serves (which snapshot is active, the active one's `verified_at`) writes
  a new serving token in the same transaction, after the source row's lock (retrieval.active_cache): other
  processes' cached active sets are read again from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from freshness.errors import Conflict
from freshness.models import Snapshot, SnapshotState, Source
from freshness.retrieval.active_cache import serving_changed
from freshness.runtime import DENSE_SIZE_KEY, settle_state_value, state_value

FAILURE_REASON_CHARS = 2000


def _serving(session: Session, source: Source) -> Snapshot | None:
    if source.active_snapshot_id is None:
        return None
    snapshot = session.get(Snapshot, source.active_snapshot_id)
    return snapshot if snapshot is not None and snapshot.state == SnapshotState.ACTIVE else None


def _step_down(session: Session, source: Source, now: datetime) -> None:
    current = _serving(session, source)
    if current is not None:
        current.state = SnapshotState.SUPERSEDED
        current.superseded_at = now


def supersede(session: Session, source: Source, now: datetime) -> None:
    """The source stops serving: its active snapshot is superseded and it names none.
    The caller holds the source row's lock."""
    _step_down(session, source, now)
    source.active_snapshot_id = None
    source.updated_at = now
    session.flush()
    serving_changed(session)


def activate_new(session: Session, source: Source, snapshot: Snapshot, now: datetime,
                 stats: dict[str, Any] | None = None) -> Snapshot:
    """A publish ends: its ingesting snapshot becomes the one the source serves, with its `stats` (written
    by the same UPDATE as its state).

    The caller holds the source row's lock, taken before it read `snapshot`."""
    if snapshot.state != SnapshotState.INGESTING:
        raise Conflict("the publish was interrupted and marked failed; publish again")
    if source.retired_at is not None:
        raise Conflict(f"source {source.id!r} was retired during the publish")
    return _make_active(session, source, snapshot, now, stats)


def activate_retained(session: Session, source: Source, snapshot: Snapshot, now: datetime) -> Snapshot:
    """Roll back or forward: a superseded snapshot whose points are kept serves again.

    The caller holds the source row's lock, then the snapshot's, in that order."""
    if source.retired_at is not None:
        raise Conflict(f"source {source.id!r} is retired; its snapshots cannot be activated")
    if snapshot.state == SnapshotState.ACTIVE:
        return snapshot
    if snapshot.state != SnapshotState.SUPERSEDED:
        raise Conflict(
            f"snapshot {snapshot.id!r} is {snapshot.state}; only a superseded snapshot that is not purged can be"
            " activated"
        )
    return _make_active(session, source, snapshot, now)


def _make_active(session: Session, source: Source, snapshot: Snapshot, now: datetime,
                 stats: dict[str, Any] | None = None) -> Snapshot:
    _step_down(session, source, now)
    # The previous one leaves `active` before this one enters it: one active snapshot per source.
    session.flush()
    if stats is not None:
        snapshot.stats = stats
    snapshot.state = SnapshotState.ACTIVE
    snapshot.activated_at = now
    snapshot.superseded_at = None
    snapshot.heartbeat_at = None
    source.active_snapshot_id = snapshot.id
    source.updated_at = now
    session.flush()
    serving_changed(session)
    return snapshot


def fail(session: Session, snapshot: Snapshot, reason: str, now: datetime) -> bool:
    """Mark an unfinished publish `failed`. Returns False, changing nothing, for a snapshot that
    is no longer ingesting (activated, or already failed by someone else)."""
    if snapshot.state != SnapshotState.INGESTING:
        return False
    snapshot.state = SnapshotState.FAILED
    snapshot.failed_at = now
    snapshot.failure_reason = reason[:FAILURE_REASON_CHARS]
    snapshot.heartbeat_at = None
    session.flush()
    return True


def confirm_current(session: Session, source: Source, at: datetime) -> Snapshot | None:
    """The source's active content is confirmed current at `at`: its `verified_at` rises to `at`,
    never lower. Returns that snapshot, or None when the source serves none.

    The caller holds the source row's lock, so two confirmations cannot interleave."""
    active = _serving(session, source)
    if active is None:
        return None
    if at > active.verified_at:
        active.verified_at = at
        session.flush()
        serving_changed(session)
    return active


def dense_size(session: Session) -> int | None:
    """The dimension of the service's dense vectors; None until the first dense vectors arrive."""
    value = state_value(session, DENSE_SIZE_KEY)
    return int(value) if value else None


def settle_dense_size(session: Session, size: int) -> int:
    """The first dense vectors fix the collection's dense size for good. Returns the size in force:
    `size` when these are the first, else the one settled before (the caller refuses a mismatch).

    Setting up the store for it is the caller's part, once this transaction has committed: a
    refused publish must not leave the store set up for its size."""
    return int(settle_state_value(session, DENSE_SIZE_KEY, str(size)))


def point_payload(source: Source, written_by: str, document_id: str) -> dict[str, Any]:
    """What a chunk's point in the store carries: the fields retrieval filters on and provenance.

    `written_by`: the snapshot whose publish wrote the point; later snapshots that keep its document serve it
    too, with no write (sources.serving). Reconciliation rewrites any point whose source fields differ."""
    return {
        "source_id": source.id,
        "snapshot_id": written_by,
        "source_class": source.source_class,
        "tags": list(source.tags or []),
        "document_id": document_id,
    }
