"""Another process holds SQLite's write lock (a CLI command, a stuck job) for longer than
FRESHNESS_DB_TIMEOUT: writes answer 503 problem details when the timeout runs out instead of
queueing for 30 s and then failing with a 500, `/ready` says writes are refused, and everything works
again once the lock is let go."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from tests.conftest import PG_URL, publish, register
from tests.faults.bounded import answers_within, assert_problem

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite's single writer lock")

DB_TIMEOUT = 1.0
BOUND = DB_TIMEOUT + 9  # the old busy timeout was 30 s


@pytest.fixture
def settings(settings):
    return replace(settings, db_timeout=DB_TIMEOUT)


def _requests(admin, keys) -> dict:
    reader = admin.as_key(keys.reader)
    return {
        "retrieve": lambda: reader.post("/v1/retrieve",
                                        json={"query": "refund days", "task_class": "general_question"}),
        "publish": lambda: admin.post("/v1/sources/refund-policy/snapshots",
                                      json={"documents": [{"id": "refunds.md", "text": "Refunds within 14 days."}]}),
        "register": lambda: admin.post("/v1/sources", json={"id": "shipping-faq", "title": "Shipping",
                                                            "owner": "support", "source_class": "faq"}),
    }


def test_writes_answer_503_within_the_timeout_while_another_process_holds_the_lock(admin, keys, settings):
    register(admin, "refund-policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])

    holder = sqlite3.connect(settings.resolved_database_url.removeprefix("sqlite:///"), timeout=0)
    holder.isolation_level = None
    holder.execute("BEGIN IMMEDIATE")
    try:
        answers = answers_within(BOUND, _requests(admin, keys))
        ready = answers_within(BOUND, {"ready": lambda: admin.client.get("/ready")})["ready"]
    finally:
        holder.rollback()
        holder.close()

    for answer in answers.values():
        assert_problem(answer, 503, "database-unavailable")
    assert_problem(ready, 503, "not-ready")
    assert "writes refused" in ready.json()["checks"]["database"]

    assert admin.client.get("/ready").status_code == 200
    answers = answers_within(BOUND, _requests(admin, keys))
    assert [answers[name].status_code for name in ("retrieve", "publish", "register")] == [200, 201, 201]
