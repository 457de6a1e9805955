"""The transactions that write audit records take the sources' locks before the chain head, never after.

An owner's activation holds its source row and a retrieval answering under the sources' locks holds
share locks of sources while it waits for the chain head. If the transaction that appends a batch of
records held the head while it asked about a later record's sources, the three could wait for each
other in a circle, and on PostgreSQL one of them would be cancelled as a deadlock. So in every
transaction that writes a record, the question about which snapshots are still active (it locks their
sources on PostgreSQL) comes before the head, once for the whole batch."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import event

from tests.conftest import publish, register

SOURCES = ("refund-policy", "returns-policy", "warranty-policy", "shipping-policy")


def _statements_by_transaction(engine) -> tuple[list[list[str]], threading.Lock]:  # noqa: ANN001
    """Record each connection's statements, one list per transaction."""
    done: list[list[str]] = []
    open_: dict[int, list[str]] = {}
    lock = threading.Lock()

    @event.listens_for(engine, "before_cursor_execute")
    def seen(conn, _cursor, statement, *_):  # noqa: ANN001, ANN202
        with lock:
            open_.setdefault(id(conn.connection.dbapi_connection), []).append(" ".join(statement.split()))

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def ended(conn):  # noqa: ANN001, ANN202
        with lock:
            statements = open_.pop(id(conn.connection.dbapi_connection), None)
            if statements:
                done.append(statements)

    return done, lock


def test_a_batch_of_records_locks_every_source_before_the_chain_head(admin, keys, client):
    for source_id in SOURCES:
        register(admin, source_id, tags=["refunds"])
        publish(admin, source_id, [{"id": "r.md", "text": f"Refunds for {source_id} within 30 days."}])
    engine = client.app.state.runtime.engine
    transactions, lock = _statements_by_transaction(engine)
    reader = admin.as_key(keys.reader)

    def one(i: int) -> None:
        # Each request reaches one source only, so the records of a batch lock different sources.
        response = reader.post("/v1/retrieve", json={
            "query": "refunds within days", "task_class": "general_question",
            "filters": {"source_ids": [SOURCES[i % len(SOURCES)]]}})
        assert response.status_code == 200, response.text
        assert response.json()["results"], "the request should serve its source"

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(96)))

    with lock:
        writing = [t for t in transactions if any(s.startswith("INSERT INTO retrievals ") for s in t)]
    assert len(writing) >= 1
    batched = [t for t in writing if sum(s.startswith("INSERT INTO retrievals ") for s in t) > 1]
    assert batched, "no two records were appended in one transaction; the race this guards was not run"
    for statements in writing:
        head = next(i for i, s in enumerate(statements) if "FROM audit_chain_head" in s)
        asked = [i for i, s in enumerate(statements) if " sources" in s]
        assert asked, statements
        assert max(asked) < head, "a source was asked about (and on PostgreSQL locked) after the chain head"
    for statements in batched:
        asked = [s for s in statements if "JOIN sources" in s and "snapshots" in s]
        assert len(asked) == 1, "a batch asks once about all its snapshots"
