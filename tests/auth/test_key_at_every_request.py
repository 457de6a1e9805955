"""The key of every request is read from the database when the request comes (SPEC §4, §8).

A RAG application's key works from the moment it is created and stops the moment it is revoked, by
`freshness keys` in another process as much as by this one; a caller without a valid key hears about its
key before anything about its body (401, then 403, before 413 and 422); and a database that cannot be read
answers 503, after which the next request reads it again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

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


def test_a_key_works_once_created_and_is_refused_once_revoked_by_another_process(admin, other_process, clock):
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


@pytest.mark.skipif(bool(PG_URL), reason="PostgreSQL keys are read on a worker thread, through a session")
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
