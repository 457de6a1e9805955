"""Before a retrieval's record is written, its transaction asks which of the snapshots it serves are still
the active snapshot of a live source. The answer must be exact for any number of snapshots: a superseded
snapshot, a retired source's, or an id that names nothing is never reported active, and every active one
asked about is."""

from __future__ import annotations

import pytest

from freshness.audit.writer import lock_head
from freshness.retrieval.active import _MANY, still_active, still_active_then_head
from tests.conftest import publish, register

SOURCES = [f"policy-{n}" for n in range(7)]


@pytest.fixture
def snapshots(admin) -> dict[str, list[str]]:
    """Seven sources with an active snapshot each; the first three with a superseded one before it; the last
    one retired."""
    made: dict[str, list[str]] = {}
    for n, source_id in enumerate(SOURCES):
        register(admin, source_id)
        versions = 2 if n < 3 else 1
        made[source_id] = [
            publish(admin, source_id, [{"id": "terms.md", "text": f"Terms of {source_id}, version {v}."}])
            ["snapshot"]["id"]
            for v in range(versions)
        ]
    assert admin.delete(f"/v1/sources/{SOURCES[-1]}").status_code in (200, 204)
    return made


def test_only_active_snapshots_of_live_sources_are_still_active(client, snapshots):
    active = {ids[-1] for source_id, ids in snapshots.items() if source_id != SOURCES[-1]}
    superseded = {ids[0] for ids in snapshots.values() if len(ids) > 1}
    retired = set(snapshots[SOURCES[-1]])
    unknown = {"snap_nothing_1", "snap_nothing_2"}
    everything = sorted(active | superseded | retired | unknown)
    engine = client.app.state.runtime.engine

    with engine.begin() as conn:
        # Every subset size from one to all, so that each size the statement is prepared for is asked.
        for size in range(1, len(everything) + 1):
            for start in range(len(everything)):
                asked = {everything[(start + i) % len(everything)] for i in range(size)}
                assert still_active(conn, asked) == frozenset(asked & active), sorted(asked)
        assert still_active(conn, set()) == frozenset()


def test_the_answer_with_the_chain_head_is_the_same_answer(client, snapshots):
    """`still_active_then_head` (the group commit's: on PostgreSQL one statement that locks the sources, then
    the chain head) answers as `still_active` does, for none, some and more snapshots than one statement
    names, and gives the head as it is."""
    active = {ids[-1] for source_id, ids in snapshots.items() if source_id != SOURCES[-1]}
    everything = sorted({i for ids in snapshots.values() for i in ids} | {"snap_nothing"})
    many = set(everything) | {f"snap_nothing_{n}" for n in range(_MANY + 1)}
    engine = client.app.state.runtime.engine
    with engine.begin() as conn:
        head = lock_head(conn)
    for asked in (set(), {everything[0]}, set(everything), many):
        with engine.begin() as conn:
            found, at = still_active_then_head(conn, asked)
            assert found == still_active(conn, asked) == frozenset(asked & active), sorted(asked)[:5]
            assert at == head
