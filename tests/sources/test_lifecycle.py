"""The snapshot lifecycle as an owner and an auditor rely on it: one snapshot serves per source,
a confirmation never makes content look older than it was, a failed publish never serves, and the
service's dense vector size is fixed once, whoever gets there first."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import permutations

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from freshness.db import make_engine, make_session_factory, session_scope
from freshness.errors import Conflict
from freshness.ids import new_snapshot_id
from freshness.models import ServiceState, Snapshot, SnapshotState, Source
from freshness.sources import lifecycle
from freshness.sources.service import get_source

CAPTURED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOW = CAPTURED + timedelta(days=1)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def _source(sessions: sessionmaker[Session], source_id: str, *states: SnapshotState) -> list[str]:
    """A source with one snapshot per state, oldest first; the source names the active one."""
    ids = []
    with session_scope(sessions) as session:
        source = Source(id=source_id, title=source_id, owner="support", source_class="policy", tags=[],
                        metadata_={}, created_at=CAPTURED, updated_at=CAPTURED, consecutive_failures=0)
        session.add(source)
        session.flush()
        for state in states:
            snapshot = Snapshot(id=new_snapshot_id(), source_id=source_id, state=state, content_hash=f"sha256:{state}",
                                captured_at=CAPTURED, verified_at=CAPTURED, created_at=CAPTURED,
                                superseded_at=CAPTURED if state == SnapshotState.SUPERSEDED else None,
                                document_count=1, chunk_count=1, has_dense=False, stats={})
            session.add(snapshot)
            session.flush()
            if state == SnapshotState.ACTIVE:
                source.active_snapshot_id = snapshot.id
            ids.append(snapshot.id)
    return ids


def _states(sessions: sessionmaker[Session], source_id: str) -> tuple[str | None, dict[str, str]]:
    with session_scope(sessions) as session:
        active_id = session.get_one(Source, source_id).active_snapshot_id
        rows = session.execute(select(Snapshot.id, Snapshot.state).where(Snapshot.source_id == source_id))
        return active_id, dict(rows.all())


def test_a_publish_and_a_rollback_each_supersede_exactly_the_snapshot_serving_before(sessions) -> None:
    old, serving, new = _source(sessions, "refund-policy", SnapshotState.SUPERSEDED, SnapshotState.ACTIVE,
                                SnapshotState.INGESTING)
    (neighbour,) = _source(sessions, "returns-policy", SnapshotState.ACTIVE)

    with session_scope(sessions) as session:
        source = get_source(session, "refund-policy", for_update=True)
        lifecycle.activate_new(session, source, session.get_one(Snapshot, new), NOW)
    assert _states(sessions, "refund-policy") == (new, {old: "superseded", serving: "superseded", new: "active"})

    later = NOW + timedelta(hours=1)
    with session_scope(sessions) as session:
        source = get_source(session, "refund-policy", for_update=True)
        lifecycle.activate_retained(session, source, session.get_one(Snapshot, old), later)
    assert _states(sessions, "refund-policy") == (old, {old: "active", serving: "superseded", new: "superseded"})

    with session_scope(sessions) as session:
        # Each change dates only the snapshot it touched; the one superseded before keeps its date.
        assert session.get_one(Snapshot, serving).superseded_at == NOW
        assert session.get_one(Snapshot, new).superseded_at == later
        assert session.get_one(Snapshot, old).superseded_at is None
        assert session.get_one(Snapshot, old).activated_at == later
    assert _states(sessions, "returns-policy") == (neighbour, {neighbour: "active"})


def test_retiring_leaves_the_source_serving_nothing(sessions) -> None:
    old, serving = _source(sessions, "refund-policy", SnapshotState.SUPERSEDED, SnapshotState.ACTIVE)
    with session_scope(sessions) as session:
        lifecycle.supersede(session, get_source(session, "refund-policy", for_update=True), NOW)
    assert _states(sessions, "refund-policy") == (None, {old: "superseded", serving: "superseded"})


@pytest.mark.parametrize("order", list(permutations(range(4))))
def test_verified_at_only_rises_whatever_order_the_confirmations_come_in(sessions, order) -> None:
    # A re-publish can carry an older captured_at than a verify made since; neither may pull the date back.
    moments = [CAPTURED - timedelta(hours=1), CAPTURED + timedelta(hours=1), CAPTURED + timedelta(hours=5),
               CAPTURED + timedelta(days=2)]
    (serving,) = _source(sessions, "refund-policy", SnapshotState.ACTIVE)
    highest = CAPTURED
    for index in order:
        with session_scope(sessions) as session:
            confirmed = lifecycle.confirm_current(session, get_source(session, "refund-policy", for_update=True),
                                                  moments[index])
            assert confirmed is not None and confirmed.id == serving
        highest = max(highest, moments[index])
        with session_scope(sessions) as session:
            assert session.get_one(Snapshot, serving).verified_at == highest


def test_a_source_serving_nothing_has_nothing_to_confirm(sessions) -> None:
    (superseded,) = _source(sessions, "refund-policy", SnapshotState.SUPERSEDED)
    with session_scope(sessions) as session:
        assert lifecycle.confirm_current(session, get_source(session, "refund-policy"), NOW) is None
    with session_scope(sessions) as session:
        assert session.get_one(Snapshot, superseded).verified_at == CAPTURED


def test_a_failed_publish_never_serves(sessions) -> None:
    serving, publishing = _source(sessions, "refund-policy", SnapshotState.ACTIVE, SnapshotState.INGESTING)
    with session_scope(sessions) as session:
        assert lifecycle.fail(session, session.get_one(Snapshot, publishing), "x" * 5000, NOW)

    with session_scope(sessions) as session:
        source = get_source(session, "refund-policy", for_update=True)
        with pytest.raises(Conflict, match="interrupted and marked failed"):
            lifecycle.activate_new(session, source, session.get_one(Snapshot, publishing), NOW)
        with pytest.raises(Conflict, match="is failed"):
            lifecycle.activate_retained(session, source, session.get_one(Snapshot, publishing), NOW)
    assert _states(sessions, "refund-policy") == (serving, {serving: "active", publishing: "failed"})

    with session_scope(sessions) as session:
        failed = session.get_one(Snapshot, publishing)
        assert (failed.failed_at, len(failed.failure_reason or "")) == (NOW, lifecycle.FAILURE_REASON_CHARS)
        # A late failure report about a snapshot that is serving changes nothing.
        assert not lifecycle.fail(session, session.get_one(Snapshot, serving), "too late", NOW)
    assert _states(sessions, "refund-policy") == (serving, {serving: "active", publishing: "failed"})


def test_the_first_dense_size_stands_for_later_publishes(sessions) -> None:
    with session_scope(sessions) as session:
        assert lifecycle.dense_size(session) is None
        assert lifecycle.settle_dense_size(session, 4) == 4
    with session_scope(sessions) as session:
        assert lifecycle.settle_dense_size(session, 8) == 4
        assert lifecycle.dense_size(session) == 4


def _waits_for_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                     " AND datname = current_database()")))


def test_two_publishes_racing_to_set_the_dense_size_settle_on_one(engine, sessions) -> None:
    first = sessions()
    assert lifecycle.settle_dense_size(first, 4) == 4  # written, not yet committed
    second: list[int] = []
    racer = threading.Thread(target=lambda: second.append(_settle_alone(sessions, 8)))
    racer.start()
    if engine.dialect.name == "postgresql":
        # The racer read no size too and now waits on the first one's row; let it meet the commit there.
        deadline = time.monotonic() + 10
        while not _waits_for_a_lock(engine) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _waits_for_a_lock(engine), "the second publish should be waiting on the first one's size"
    first.commit()
    first.close()
    racer.join(timeout=30)

    assert second == [4]
    with session_scope(sessions) as session:
        assert lifecycle.dense_size(session) == 4
        # The losing transaction went on and committed its other writes.
        assert session.get_one(ServiceState, "race_survivor").value == "4"


def _settle_alone(sessions: sessionmaker[Session], size: int) -> int:
    with session_scope(sessions) as session:
        size = lifecycle.settle_dense_size(session, size)
        # The race lost must not cost the rest of this transaction: it can still write.
        session.add(ServiceState(key="race_survivor", value=str(size)))
    return size
