"""What a re-publish with one document changed asks of the database: each statement and transaction is a
round trip on PostgreSQL, and on SQLite a turn of its one writer. Counted, not timed."""

from __future__ import annotations

import re

from sqlalchemy import event

from tests.conftest import publish, register


def _documents(count: int, changed: int | None = None) -> list[dict]:
    return [{"id": f"doc-{d:04d}.md",
             "chunks": [f"Clause {p} of document {d} on returns{' (revised)' if d == changed else ''}."
                        for p in range(3)]}
            for d in range(count)]


def _statements_of_a_one_document_change(admin) -> list[str]:
    runtime = admin.client.app.state.runtime
    register(admin, "manual")
    publish(admin, "manual", _documents(30))
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(" ".join(statement.split()))

    def begin(conn) -> None:
        seen.append("(a transaction begins)")

    event.listen(runtime.engine, "before_cursor_execute", record)
    event.listen(runtime.engine, "begin", begin)
    try:
        publish(admin, "manual", _documents(30, changed=4))
    finally:
        event.remove(runtime.engine, "before_cursor_execute", record)
        event.remove(runtime.engine, "begin", begin)
    return seen


def test_the_new_snapshot_is_written_by_its_insert_and_one_update(admin):
    """Its stats go with its activation's UPDATE; the superseded one takes the other."""
    seen = _statements_of_a_one_document_change(admin)
    updates = [s for s in seen if s.startswith("UPDATE snapshots")]
    assert len(updates) == 2, updates
    assert any("stats" in s and "activated_at" in s for s in updates), updates


def test_each_snapshot_is_read_once(admin):
    """The activation reads the snapshot it activates and the one it supersedes in one statement."""
    seen = _statements_of_a_one_document_change(admin)
    reads = [s for s in seen if re.match(r"SELECT snapshots\.id, snapshots\.source_id", s)]
    assert len(reads) == 2, reads  # the reservation's look at the active one, the activation's of both


def test_the_look_before_preparing_is_one_read_transaction(admin):
    """Whether the documents were sent before and, since they were not, the ones to prepare against."""
    seen = _statements_of_a_one_document_change(admin)
    look = next(i for i, s in enumerate(seen) if "snapshots.stats, snapshots.valid_until" in s)
    assert seen[look - 1] == "(a transaction begins)"
    assert "documents.sent_hash" in seen[look + 1]
