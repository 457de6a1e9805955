"""A connection back in the pool is not pinged again before its next use (freshness.pgliveness): the service
still notices the server ending it meanwhile (an administrator, a restart, a failover), and replaces it at
checkout rather than failing the request that draws it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from freshness import pgliveness
from freshness.db import make_engine
from tests.conftest import PG_URL, publish, register

pytestmark = pytest.mark.skipif(not PG_URL, reason="PostgreSQL's pooled connections")
ASK = {"query": "refund days", "task_class": "general_question"}


def _end_other_sessions() -> list[int]:
    """End every other session on the test database, as an administrator would; returns their pids once gone."""
    other = make_engine(PG_URL)
    try:
        with other.connect() as conn:
            ended = list(conn.scalars(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")))
            for pid in ended:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and conn.scalar(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"), {"pids": ended}):
                time.sleep(0.05)
                conn.rollback()  # pg_stat_activity is read once per transaction
        return ended
    finally:
        other.dispose()


def test_a_connection_the_server_ended_is_replaced_before_a_retrieval_uses_it(admin, keys, monkeypatch):
    monkeypatch.setattr(pgliveness, "QUIET_FOR", 3600.0)  # no ping for being long in the pool: the socket tells
    register(admin, "refund-policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])
    reader = admin.as_key(keys.reader)
    assert reader.post("/v1/retrieve", json=ASK).status_code == 200
    assert _end_other_sessions(), "the service should hold pooled connections"

    for _ in range(3):  # every pooled connection was ended: each of them is replaced as it is drawn
        response = reader.post("/v1/retrieve", json=ASK)
        assert response.status_code == 200, response.text
    assert admin.get("/v1/sources").status_code == 200


@contextmanager
def _pings_counted(engine) -> Iterator[list[str]]:  # noqa: ANN001
    pings: list[str] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_conn) -> bool:  # noqa: ANN001
        pings.append("ping")
        return ping(dbapi_conn)

    engine.dialect.do_ping = counted
    try:
        yield pings
    finally:
        engine.dialect.do_ping = ping


def test_a_connection_just_back_in_the_pool_is_used_without_a_ping(admin, keys, monkeypatch):
    # On a busy machine a connection last used by the publish may be QUIET_FOR old when it is drawn.
    monkeypatch.setattr(pgliveness, "QUIET_FOR", 3600.0)
    register(admin, "refund-policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])
    reader = admin.as_key(keys.reader)
    assert reader.post("/v1/retrieve", json=ASK).status_code == 200
    with _pings_counted(admin.client.app.state.runtime.engine) as pings:
        for _ in range(3):
            assert reader.post("/v1/retrieve", json=ASK).status_code == 200
    assert pings == []


def test_a_connection_in_doubt_is_pinged_and_a_failed_ping_replaces_it(admin, keys, monkeypatch):
    """Past QUIET_FOR a connection is pinged; when the server ended it and the socket did not tell (as when a
    host is lost), the ping fails and the pool connects anew: the request still succeeds."""
    monkeypatch.setattr(pgliveness, "QUIET_FOR", 0.0)  # every reused connection is in doubt
    monkeypatch.setattr(pgliveness, "quiet", lambda _conn: True)  # and its socket tells nothing
    register(admin, "refund-policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])
    reader = admin.as_key(keys.reader)
    assert reader.post("/v1/retrieve", json=ASK).status_code == 200
    assert _end_other_sessions(), "the service should hold pooled connections"

    with _pings_counted(admin.client.app.state.runtime.engine) as pings:
        for _ in range(3):
            response = reader.post("/v1/retrieve", json=ASK)
            assert response.status_code == 200, response.text
    assert pings, "a connection back from the pool past QUIET_FOR should have been pinged"
