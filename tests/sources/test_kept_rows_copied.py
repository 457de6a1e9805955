"""A re-publish copies the kept documents' chunk rows inside the database (INSERT ... SELECT), the database making
their chunk ids: distinct UUIDs of one block, new to the service, each row naming the point its document's
earlier row named, without its text. A small snapshot copies them in its reservation; a large one in
transactions of about CHUNK_ROWS_PER_TRANSACTION rows after it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, select, update

from freshness.db import session_scope
from freshness.models import Chunk, Document
from freshness.sources import publish as publishing
from tests.conftest import publish, register


def _documents(count: int, changed: int | None = None) -> list[dict]:
    return [{"id": f"doc-{d:04d}.md",
             "chunks": [f"Clause {p} of document {d} on refunds{' (revised)' if d == changed else ''}."
                        for p in range(3)]}
            for d in range(count)]


def _rows(runtime, snapshot_id: str) -> dict[tuple[str, int], tuple[str, str, str | None, str]]:
    with session_scope(runtime.sessions) as session:
        rows = session.execute(select(Chunk.document_id, Chunk.position, Chunk.chunk_id, Chunk.point_id, Chunk.text,
                                      Chunk.content_hash).where(Chunk.snapshot_id == snapshot_id)).all()
    return {(r.document_id, r.position): (r.chunk_id, r.point_id, r.text, r.content_hash) for r in rows}


@pytest.mark.parametrize("documents", [20, 400], ids=["in-the-reservation", "after-the-reservation"])
def test_kept_rows_are_copied_under_new_ids_naming_the_same_points(admin, keys, monkeypatch, documents):
    runtime = admin.client.app.state.runtime
    register(admin, "manual")
    first = publish(admin, "manual", _documents(documents))["snapshot"]["id"]
    copied_by_statement: list[int] = []
    copy = publishing.Reservation.copy

    def counted(plan, session, group):
        points = copy(plan, session, group)
        copied_by_statement.append(len(points))
        return points

    monkeypatch.setattr(publishing.Reservation, "copy", counted)
    second = publish(admin, "manual", _documents(documents, changed=7))
    assert second["stats"]["chunks_embedded"] == 3
    assert second["stats"]["chunks_reused"] == 3 * (documents - 1)

    before, after = _rows(runtime, first), _rows(runtime, second["snapshot"]["id"])
    assert before.keys() == after.keys()
    copied = {key: row for key, row in after.items() if key[0] != "doc-0007.md"}
    assert len(copied) == 3 * (documents - 1)
    for key, (chunk_id, point_id, text, content_hash) in copied.items():
        assert point_id == before[key][1] and content_hash == before[key][3]
        assert text is None  # stored once, in the row that holds the point
        assert str(uuid.UUID(chunk_id)) == chunk_id
    ids = [row[0] for row in after.values()]
    assert len(set(ids)) == len(ids) and not set(ids) & {row[0] for row in before.values()}
    # The copies are one block: the same 24 leading characters, the last 12 hex digits counting up.
    blocks = {chunk_id[:24] for chunk_id, *_ in copied.values()}
    assert len(blocks) == 1
    numbers = sorted(int(chunk_id[24:], 16) for chunk_id, *_ in copied.values())
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))

    # One statement in the reservation; after it, one a transaction, each ending with a whole document.
    assert sum(copied_by_statement) == len(copied)
    if 3 * documents <= publishing.RESERVATION_ROWS:
        assert len(copied_by_statement) == 1
    else:
        assert len(copied_by_statement) > 1
        assert max(copied_by_statement) <= publishing.CHUNK_ROWS_PER_TRANSACTION + 2

    # The copies serve: a kept document's chunk is found, with its text, under the new snapshot.
    body = {"query": "Clause 2 of document 3 on refunds", "task_class": "general_question", "top_k": 1}
    response = admin.as_key(keys.reader).post("/v1/retrieve", json=body)
    assert response.status_code == 200, response.text
    [hit] = response.json()["results"]
    assert hit["text"] == "Clause 2 of document 3 on refunds."
    assert hit["snapshot_id"] == second["snapshot"]["id"]
    assert hit["chunk_id"] == copied[("doc-0003.md", 2)][0]


def test_a_publish_built_on_the_active_snapshot_reads_nothing_to_unmark(admin):
    """Every point such a publish shares was served until its activation, so none carries a dead mark: the
    activation runs no set difference to find some; only the step after it does (to mark the superseded)."""
    runtime = admin.client.app.state.runtime
    register(admin, "manual")
    publish(admin, "manual", _documents(20))
    differences: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if " EXCEPT " in statement.upper():
            differences.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", seen)
    try:
        publish(admin, "manual", _documents(20, changed=3))
    finally:
        event.remove(runtime.engine, "before_cursor_execute", seen)
    assert len(differences) == 1


def test_a_base_whose_rows_and_counts_disagree_refuses_the_publish_and_keeps_serving(admin):
    runtime = admin.client.app.state.runtime
    register(admin, "manual")
    first = publish(admin, "manual", _documents(5))["snapshot"]["id"]
    with session_scope(runtime.sessions) as session:  # a hand-edited database: one row more than there is
        session.execute(update(Document).where(Document.snapshot_id == first, Document.document_id == "doc-0001.md")
                        .values(chunk_count=4))
    response = admin.post("/v1/sources/manual/snapshots", json={"documents": _documents(5, changed=2)})
    assert response.status_code == 409, response.text
    assert "copied 12 chunk rows of the unchanged documents" in response.json()["detail"]
    assert admin.get("/v1/sources/manual").json()["active_snapshot_id"] == first
    states = sorted(s["state"] for s in admin.get("/v1/sources/manual/snapshots").json()["items"])
    assert states == ["active", "failed"]
