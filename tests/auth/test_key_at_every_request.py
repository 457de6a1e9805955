"""The key of every request is read from the database when the request comes (SPEC §4, §8).

A RAG application's key works from the moment it is created and stops the moment it is revoked, by
`freshness keys` in another process as much as by this one; a caller without a valid key hears about its
key before anything about its body (401, then 403, before 413 and 422); and a database that cannot be read
answers 503, after which the next request reads it again.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from freshness.api.deps import INLINE_KEYS
from freshness.app import create_app
from freshness.auth.inline import InlineKeys
from freshness.auth.keys import create_key, revoke_key
from freshness.db import make_engine, make_session_factory, session_scope
from freshness.settings import with_overrides
from tests.conftest import PG_URL, Api, publish, register

ASK = {"query": "refunds within days", "task_class": "general_question"}
LIMIT = 2_000  # bytes of body this test's service takes


@pytest.fixture
def small_bodies(settings, clock, keys) -> Iterator[TestClient]:
    app = create_app(with_overrides(settings, max_body=LIMIT), clock=clock)
    with TestClient(app=app) as client:
        yield client


@pytest.fixture
def other_process(settings):
    """The database as `freshness keys` sees it: an engine and sessions of its own."""
    engine = make_engine(settings.resolved_database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(params=["in place", "on a worker thread"])
def lookup(request, client) -> str:
    """Each story holds wherever the key is read: in place by the guard (an SQLite file), or on a worker
    thread (PostgreSQL, and here SQLite too with the in-place reader taken away)."""
    inline = client.app.state[INLINE_KEYS]
    if request.param == "in place" and inline is None:
        pytest.skip("this database's keys are read on a worker thread")
    if request.param == "on a worker thread" and inline is not None:
        inline.close()
        client.app.state[INLINE_KEYS] = None
    return request.param


def test_a_key_works_once_created_and_is_refused_once_revoked_by_another_process(admin, other_process, clock,
                                                                                 lookup):
    register(admin, "refund-policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days of delivery."}])
    with session_scope(other_process) as session:
        row, key = create_key(session, "reader", "new assistant", clock.now())
        key_id = row.id
    reader = admin.as_key(key)

    assert reader.post("/v1/retrieve", json=ASK).status_code == 200
    with session_scope(other_process) as session:
        revoke_key(session, key_id, clock.now())
    refused = reader.post("/v1/retrieve", json=ASK)

    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert reader.get("/v1/policy").status_code == 401


BAD_BODIES = {
    "too large": {**ASK, "query": "refunds " * LIMIT},
    "not an object": ["refunds"],
    "unknown task class": {**ASK, "task_class": "no-such-class"},
    "top_k out of bounds": {**ASK, "top_k": 0},
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_the_key_is_judged_before_the_body(small_bodies, keys, body):
    unknown = Api(small_bodies, "fk_" + "x" * 43)
    publisher = Api(small_bodies, keys.support)
    reader = Api(small_bodies, keys.reader)

    assert unknown.post("/v1/retrieve", json=body).status_code == 401
    assert publisher.post("/v1/retrieve", json=body).status_code == 403
    assert reader.post("/v1/retrieve", json=body).status_code in (413, 422)


def test_a_key_read_on_a_worker_thread_never_waits_for_the_write_lock(admin, settings, lookup):
    """A read of the key takes no write lock: it answers while another process holds SQLite's (or, on
    PostgreSQL, while another transaction is open), instead of waiting for it."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.begin() as writer:  # BEGIN IMMEDIATE on SQLite: the write lock, held until the end
            writer.execute(text("UPDATE audit_chain_head SET seq = seq WHERE id = 1"))
            started = time.monotonic()
            answered = admin.get("/v1/policy")
            waited = time.monotonic() - started
    finally:
        engine.dispose()

    assert answered.status_code == 200, answered.text
    assert waited < settings.db_timeout, "the lookup waited for the write lock"


@pytest.mark.skipif(bool(PG_URL), reason="PostgreSQL keys are read on a worker thread")
def test_a_key_that_cannot_be_read_answers_503_and_the_next_request_reads_again(admin, monkeypatch):
    assert admin.get("/v1/policy").status_code == 200
    connect = InlineKeys._connect
    failing = {"left": 1}

    def flaky(self):  # noqa: ANN001, ANN202
        if failing["left"]:
            failing["left"] -= 1
            raise sqlite3.OperationalError("disk I/O error")
        return connect(self)

    monkeypatch.setattr(InlineKeys, "_connect", flaky)

    down = admin.get("/v1/policy")
    assert down.status_code == 503 and down.json()["type"].endswith("database-unavailable")
    assert admin.get("/v1/policy").status_code == 200
