"""Which of a set of snapshots are still the active one of a live source, checked where a record is written.

On PostgreSQL the check share-locks the sources' rows, in id order, until the transaction ends: every
change of which snapshot is active (publish, activate, retire) is made under an update lock of the
source row, so none can slip in before the audit record commits. SQLite's write lock, held since the
transaction began, does the same.

Lock order: a transaction that writes audit records takes every source lock it needs first, in one
statement in id order, and the audit chain head last (audit.writer). The group commit checks the
union of its batch's snapshots before its first record, and the locked attempt locks its sources
before it writes; so no writer of records holds the head while it waits for a source that an owner's
activation holds, and no cycle of waits can form.
"""

from __future__ import annotations

from collections.abc import Set
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from freshness.models import Snapshot, SnapshotState, Source

_SOURCES = cast(Table, Source.__table__)
_SNAPSHOTS = cast(Table, Snapshot.__table__)
# On the tables and run on the session's connection: the ORM's handling of an execution costs more than the read.
_STILL_ACTIVE = (
    select(_SNAPSHOTS.c.id)
    .select_from(_SNAPSHOTS.join(_SOURCES, _SOURCES.c.active_snapshot_id == _SNAPSHOTS.c.id))
    .where(_SOURCES.c.retired_at.is_(None), _SNAPSHOTS.c.state == SnapshotState.ACTIVE.value,
           _SNAPSHOTS.c.id.in_(bindparam("ids", expanding=True)))
)
# Locks the source rows only, in id order: the order every writer takes them (source row, then its snapshots).
_STILL_ACTIVE_LOCKED = _STILL_ACTIVE.order_by(_SOURCES.c.id).with_for_update(read=True, of=_SOURCES)


def still_active(session: Session, snapshot_ids: Set[str]) -> frozenset[str]:
    """Those of `snapshot_ids` that are the active snapshot of a live source, their sources locked until commit."""
    if not snapshot_ids:
        return frozenset()
    query = _STILL_ACTIVE_LOCKED if session.get_bind().dialect.name == "postgresql" else _STILL_ACTIVE
    return frozenset(session.connection().scalars(query, {"ids": sorted(snapshot_ids)}))
