"""The transactions that write audit records take the sources' locks before the chain head, never after.

An owner's activation holds its source row and a retrieval answering under the sources' locks holds
share locks of sources while it waits for the chain head. If the transaction that appends a batch of
records held the head while it asked about a later record's sources, the three could wait for each
other in a circle, and on PostgreSQL one of them would be cancelled as a deadlock. So in every
transaction that writes a record, the question about which snapshots are still active (it locks their
sources on PostgreSQL) comes before the head, once for the whole batch. On PostgreSQL the two are one
statement: the head's row qualifies for its lock only once the sources' locking CTE has been read through."""

from __future__ import annotations

import threading
import time
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


def test_a_batch_of_records_locks_every_source_before_the_chain_head(admin, keys, client, monkeypatch):
    for source_id in SOURCES:
        register(admin, source_id, tags=["refunds"])
        publish(admin, source_id, [{"id": "r.md", "text": f"Refunds for {source_id} within 30 days."}])
    runtime = client.app.state.runtime
    transactions, lock = _statements_by_transaction(runtime.engine)
    # A slow first question keeps the group's transaction open while other records queue behind it, so
    # the next group holds several records whatever the machine's speed.
    batch = runtime.audit_batch
    ask, write_together = batch._still_active, batch._write_together
    sizes: list[int] = []

    def slowly(session, snapshot_ids):  # noqa: ANN001, ANN202
        time.sleep(0.02)
        return ask(session, snapshot_ids)

    def counted(records):  # noqa: ANN001, ANN202
        sizes.append(len(records))
        return write_together(records)

    monkeypatch.setattr(batch, "_still_active", slowly)
    monkeypatch.setattr(batch, "_write_together", counted)
    reader = admin.as_key(keys.reader)

    def one(i: int) -> None:
        # Each request reaches one source only, so the records of a batch lock different sources.
        response = reader.post("/v1/retrieve", json={
            "query": "refunds within days", "task_class": "general_question",
            "filters": {"source_ids": [SOURCES[i % len(SOURCES)]]}})
        assert response.status_code == 200, response.text
        assert response.json()["results"], "the request should serve its source"

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(48)))

    with lock:
        writing = [t for t in transactions if any("INSERT INTO retrievals " in s for s in t)]
    assert max(sizes) > 1, "no two records were appended in one transaction; the race this guards was not run"
    assert len(writing) == len(sizes)
    for statements in writing:
        head = next(i for i, s in enumerate(statements) if "FROM audit_chain_head" in s)
        asked = [i for i, s in enumerate(statements) if " sources" in s]
        # Once for the whole group, and before the head: on PostgreSQL that question locks the sources.
        assert len(asked) == 1, statements
        if asked[0] == head:  # PostgreSQL: one statement, the head locked after the sources' CTE is read
            statement = statements[head]
            assert statement.startswith("WITH live AS MATERIALIZED (SELECT snapshots.id"), statement
            assert "FOR SHARE OF sources), head AS (SELECT audit_chain_head.seq" in statement, statement
            assert "(SELECT count(*) AS count_1 FROM live) >=" in statement.split("head AS", 1)[1], statement
            continue
        assert asked[0] < head, "a source was asked about (and on PostgreSQL locked) after the chain head"
