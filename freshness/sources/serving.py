"""Which points a search finds: those the active snapshots serve, with no write for a kept document.

A point is written once, by the publish of the first snapshot that holds its chunk (`snapshot_id` in its
payload, `chunks.point_id` of the rows). A later snapshot of the source that keeps the document names the
same point in its own chunk rows, and nothing in the store is written for it. So the store does not list
the snapshots a point serves: the chunk rows do. The store keeps one mark instead, on the points that no
active snapshot serves any more: `dead_from`, the serving sequence number from which that is so.

The serving sequence (`serving_seq` in the service state) counts the changes of which snapshot a source
serves: every activation (a publish ending, a rollback or forward) takes the next number in its
transaction. A retrieval reads the number with the active set, in one read transaction, and its search
leaves out the points dead from that number or before, and those written by publishes still in progress.
So a search finds the same points whatever its timing against an activation:
- before an activation commits, under the source's lock, the points the new snapshot serves that the
  previous one did not, and that are marked dead (a rollback's), lose the mark: until the commit a search
  finds a few points more, which retrieval drops for having no chunk row in an active snapshot;
- after it commits, under the source's lock again, the points the previous snapshot served that the new
  one does not are marked dead from the activation's number: retrievals that read the active set before
  the commit do not leave them out.
A mark that was not written (a crash between commit and marking, a store that did not answer, a retire in
a process that does not hold the store) leaves points that searches find and retrieval drops, until
reconciliation marks them (`mark_unserved`). So that they do not take the places of the chunks the
active snapshots serve, a retrieval that drops any searches again deeper (retrieval.answer).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Integer, String, Table, bindparam, except_, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session, sessionmaker

from freshness.db import transaction
from freshness.models import Chunk, ServiceState, Snapshot, SnapshotState, Source
from freshness.retrieval.active_cache import SERVING_SEQ_KEY
from freshness.runtime import settle_state_value
from freshness.vectorstore import VectorStore
from freshness.vectorstore.base import DEAD_FROM, all_payloads

log = logging.getLogger("freshness.serving")
_STATE = cast(Table, ServiceState.__table__)
_CHUNKS = cast(Table, Chunk.__table__)
_SEQ = select(_STATE.c.value).where(_STATE.c.key == SERVING_SEQ_KEY)
_SOURCES = cast(Table, Source.__table__)
_POINTS_OF = select(_CHUNKS.c.point_id).where(_CHUNKS.c.snapshot_id == bindparam("snapshot_id"))
# The source's row locked (the order every writer takes: the source first) and its active snapshot read.
_LOCK_SOURCE = (select(_SOURCES.c.active_snapshot_id).where(_SOURCES.c.id == bindparam("source_id"))
                .with_for_update())


@dataclass(frozen=True)
class StepDown:
    """What a change of the snapshot a source serves leaves to do once it has committed: mark dead the points
    of the snapshot it superseded that it does not serve (`step_down`). `activated` is None for a retire."""

    source_id: str
    previous: str | None
    activated: str | None
    seq: int


def serving_seq(session: Session) -> int:
    """The number of the last committed change of what is served (0 before the first)."""
    value = session.connection().scalar(_SEQ)
    return int(value) if value else 0


def _only_in(session: Session, snapshot_id: str, others: list[str | None], copied_only: bool = False) -> list[str]:
    """The points the snapshot's chunk rows name and none of the others' do (one statement: the database
    returns the few that differ, not every row of both). `copied_only`: leave out the points it wrote."""
    named = [other for other in others if other is not None]
    parameters = {"snapshot_id": snapshot_id, **{f"other{i}": other for i, other in enumerate(named)}}
    return sorted(session.connection().scalars(_except_statement(copied_only, len(named)), parameters))


_EXCEPT: dict[tuple[bool, int], Any] = {}


def _except_statement(copied_only: bool, others: int) -> Any:
    """Built once per shape: building a compound select costs more than running it."""
    statement = _EXCEPT.get((copied_only, others))
    if statement is None:
        query = _POINTS_OF.where(_CHUNKS.c.point_id != _CHUNKS.c.chunk_id) if copied_only else _POINTS_OF
        excepted = [select(_CHUNKS.c.point_id).where(_CHUNKS.c.snapshot_id == bindparam(f"other{i}"))
                    for i in range(others)]
        statement = _EXCEPT.setdefault((copied_only, others), except_(query, *excepted) if excepted else query)
    return statement


def take_over(session: Session, store: VectorStore, source_id: str, previous: str | None,
              snapshot_id: str, published: bool, built_on: str | None = None) -> StepDown:
    """Call in the transaction that made `snapshot_id` the active snapshot of the source instead of `previous`,
    with the source locked, before it commits: the points it serves that the previous one did not serve
    lose their dead mark, and the activation takes its number.

    `published`: the snapshot's publish ends here, so the points it wrote itself were never marked.
    `built_on`: the snapshot the publish copied its kept documents' rows from. When that is `previous`, the
    points it shares are all `previous`'s, so the difference is empty by construction and is not read."""
    if previous != snapshot_id and not (published and built_on is not None and built_on == previous):
        revived = _only_in(session, snapshot_id, [previous], copied_only=published)
        if revived:
            store.mark_served(revived)
    return StepDown(source_id, previous, snapshot_id, _next_seq(session))


def stop(session: Session, source_id: str, previous: str | None) -> StepDown:
    """Call in the transaction that retires the source, which served `previous`: the retire takes its number."""
    return StepDown(source_id, previous, None, _next_seq(session))


def _next_seq(session: Session) -> int:
    seq = session.connection().scalar(_NEXT_SEQ)
    if seq is None:  # the first activation ever: the row is made first
        settle_state_value(session, SERVING_SEQ_KEY, "0")
        seq = session.connection().scalar(_NEXT_SEQ)
    return int(seq)


_NEXT_SEQ = (
    update(_STATE).where(_STATE.c.key == SERVING_SEQ_KEY)
    .values(value=sql_cast(sql_cast(_STATE.c.value, Integer) + 1, String))
    .returning(_STATE.c.value)
)


def step_down(session: Session, store: VectorStore, done: StepDown) -> int:
    """Run in a transaction of its own after the change committed: the points of the snapshot it superseded
    that neither the snapshot it activated nor the source's active one now serves are marked dead from its
    number. Returns how many."""
    if done.previous is None or done.previous == done.activated:
        return 0
    active = session.connection().scalar(_LOCK_SOURCE, {"source_id": done.source_id})
    gone = _only_in(session, done.previous, [done.activated, active])
    if gone:
        store.mark_dead(gone, done.seq)
    return len(gone)


def finish(sessions: sessionmaker[Session], store: VectorStore, done: StepDown | None) -> None:
    """`step_down` once the change has committed. The change stands whatever happens here: a failure only
    leaves points that searches find and retrieval drops (searching again deeper), until reconciliation
    marks them."""
    if done is None:
        return
    try:
        transaction(sessions, lambda session: step_down(session, store, done))
    except Exception as exc:
        log.warning("source %s: the points snapshot %s no longer serves were not marked (%s); reconciliation"
                    " will mark them", done.source_id, done.previous, type(exc).__name__)


def served_points(session: Session) -> set[str]:
    """The points the active snapshots of live sources serve."""
    query = (
        select(_CHUNKS.c.point_id).join(Source, Source.active_snapshot_id == _CHUNKS.c.snapshot_id)
        .join(Snapshot, Snapshot.id == _CHUNKS.c.snapshot_id)
        .where(Source.retired_at.is_(None), Snapshot.state == SnapshotState.ACTIVE)
    )
    return set(session.scalars(query))


def mark_unserved(session: Session, store: VectorStore, points: dict[str, dict[str, Any]]) -> tuple[int, int]:
    """Correct the marks of these points (id -> payload, as the store holds them), in a transaction that
    reads which points are served: a served point loses its mark, an unserved one without a mark (and not
    named by a publish in progress) is marked dead from the current number. Returns (marked served, marked dead).

    On PostgreSQL the sources' rows are share-locked while the marks are written, so no activation commits
    in between; SQLite's write lock, held by the caller's transaction, does the same."""
    if session.connection().dialect.name == "postgresql":
        session.execute(select(Source.id).order_by(Source.id).with_for_update(read=True))
    served = served_points(session)
    # A publish in progress wrote its new points unmarked, and its activation does not look at them again.
    publishing = set(session.scalars(select(_CHUNKS.c.point_id).join(Snapshot, Snapshot.id == _CHUNKS.c.snapshot_id)
                                     .where(Snapshot.state == SnapshotState.INGESTING)))
    revive = sorted(pid for pid, payload in points.items() if pid in served and DEAD_FROM in payload)
    kill = sorted(pid for pid, payload in points.items()
                  if pid not in served and pid not in publishing and DEAD_FROM not in payload)
    if revive:
        store.mark_served(revive)
    if kill:
        store.mark_dead(kill, serving_seq(session))
    return len(revive), len(kill)


def mark_store(sessions: sessionmaker[Session], store: VectorStore, page: int = 1_000) -> int:
    """A store written before points were marked: every point no active snapshot serves is marked, then the
    mark is indexed (a marking cut short is done again at the next start). Returns how many were marked."""
    points = all_payloads(store, page)
    _, marked = transaction(sessions, lambda session: mark_unserved(session, store, points))
    store.index_dead()
    if marked:
        log.info("marked %d points that no active snapshot serves", marked)
    return marked
