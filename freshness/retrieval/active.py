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

from collections.abc import Sequence, Set
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnClause, Connection, Dialect, Select, Table, bindparam, literal_column, select
from sqlalchemy.orm import Session

from freshness.models import Snapshot, SnapshotState, Source

_SOURCES = cast(Table, Source.__table__)
_SNAPSHOTS = cast(Table, Snapshot.__table__)
# The state is written into the statement, not bound: SQLite plans `state = 'active'` better than
# `state = ?` (it ran in half the time).
_ACTIVE_STATE: ColumnClause[str] = literal_column(f"'{SnapshotState.ACTIVE.value}'")
_LIVE_ACTIVE = (
    select(_SNAPSHOTS.c.id)
    .select_from(_SNAPSHOTS.join(_SOURCES, _SOURCES.c.active_snapshot_id == _SNAPSHOTS.c.id))
    .where(_SOURCES.c.retired_at.is_(None), _SNAPSHOTS.c.state == _ACTIVE_STATE)
)
_MANY = 1024  # more ids than this (never seen in one batch) go through SQLAlchemy's expanding IN


def still_active(session: Session | Connection, snapshot_ids: Set[str]) -> frozenset[str]:
    """Those of `snapshot_ids` that are the active snapshot of a live source, their sources locked until commit."""
    if not snapshot_ids:
        return frozenset()
    conn = session if isinstance(session, Connection) else session.connection()
    ids = sorted(snapshot_ids)
    postgres = conn.dialect.name == "postgresql"
    if len(ids) > _MANY:
        query = _statement(bindparam("ids", expanding=True), postgres)
        return frozenset(conn.scalars(query, {"ids": ids}))
    # Each write of audit records asks this. Run as SQLAlchemy compiled it once, its cost is that of the
    # read; through SQLAlchemy's execution of the statement (its cache key, the expanding IN) it was several
    # times that. The statement still passes the engine's events, as every other does.
    prepared = _prepared(conn.dialect, postgres, len(ids))
    return frozenset(conn.exec_driver_sql(prepared.sql, prepared.parameters(ids)).scalars())


def _statement(ids: Any, postgres: bool) -> Select[tuple[str]]:
    query = _LIVE_ACTIVE.where(_SNAPSHOTS.c.id.in_(ids))
    # Locks the source rows only, in id order: the order every writer takes them (source row, then its snapshots).
    return query.order_by(_SOURCES.c.id).with_for_update(read=True, of=_SOURCES) if postgres else query


@dataclass(frozen=True)
class _Prepared:
    """The statement for `size` ids as the driver takes it: its text and how its parameters are passed."""

    sql: str
    size: int
    fixed: dict[str, Any]  # the parameters that are not ids (none today)
    order: tuple[str, ...] | None  # the parameters' names in order for a positional driver (SQLite), else None

    def parameters(self, ids: Sequence[str]) -> tuple[Any, ...] | dict[str, Any]:
        # Fewer ids than the statement's size repeat the last one: the IN list means the same.
        padded = [*ids, *([ids[-1]] * (self.size - len(ids)))]
        values = {**self.fixed, **{f"id{i}": value for i, value in enumerate(padded)}}
        return values if self.order is None else tuple(values[name] for name in self.order)


_PREPARED: dict[tuple[Dialect, bool, int], _Prepared] = {}


def _prepared(dialect: Dialect, postgres: bool, count: int) -> _Prepared:
    size = 1 << (count - 1).bit_length()  # sizes in powers of two: a handful of statements per process
    key = (dialect, postgres, size)
    prepared = _PREPARED.get(key)
    if prepared is None:
        names = [f"id{i}" for i in range(size)]
        compiled = _statement([bindparam(name) for name in names], postgres).compile(dialect=dialect)
        fixed = {k: v for k, v in compiled.construct_params({name: "" for name in names}).items() if k not in names}
        order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        prepared = _PREPARED.setdefault(key, _Prepared(compiled.string, size, fixed, order))
    return prepared
