"""Two replicas on one database: what an owner changes through one is served by the other at once.

Each replica keeps the active set it last read and checks, inside every retrieval's own transaction,
that nothing changed since (retrieval.active_cache). Here the support team works through replica B
while a RAG app keeps asking replica A, whose copy is warm from the app's earlier questions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from freshness.app import create_app
from freshness.db import make_session_factory, session_scope
from freshness.retrieval.active_cache import SERVING_KEY, serving_changed
from freshness.runtime import open_runtime, state_value
from tests.conftest import Api, publish, register

REFUND_30 = "Refunds are accepted within 30 days of delivery."
REFUND_14 = "Refunds are accepted within 14 days of delivery."


@pytest.fixture
def replica_b(client, settings, clock, keys) -> Iterator[TestClient]:
    """A second app on the same database and store, with a runtime (and an active set) of its own."""
    runtime = open_runtime(settings, clock=clock, store=client.app.state.runtime.store)
    try:
        with TestClient(app=create_app(settings, runtime=runtime)) as other:
            yield other
    finally:
        runtime.engine.dispose()


@pytest.fixture
def owner_on_b(replica_b, keys) -> Api:
    return Api(replica_b, keys.support)


@pytest.fixture
def app_on_a(client, keys) -> Api:
    return Api(client, keys.reader)


def ask(api: Api, query: str = "refund delivery", task_class: str = "refund_decision", **extra) -> dict:
    response = api.post("/v1/retrieve", json={"query": query, "task_class": task_class, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def served_texts(answer: dict) -> list[str]:
    return [r["text"] for r in answer["results"]]


def test_a_rollback_through_one_replica_is_served_by_the_other(support, owner_on_b, app_on_a, clock):
    register(support, "refund-policy")
    old = publish(support, "refund-policy", [{"id": "refunds.md", "text": REFUND_30}], version="v1")
    clock.advance(minutes=5)
    publish(support, "refund-policy", [{"id": "refunds.md", "text": REFUND_14}], version="v2")
    assert served_texts(ask(app_on_a)) == [REFUND_14]

    assert owner_on_b.post(f"/v1/snapshots/{old['snapshot']['id']}/activate").status_code == 200

    answer = ask(app_on_a)
    assert served_texts(answer) == [REFUND_30]
    assert answer["results"][0]["snapshot_version"] == "v1"


def test_a_source_retired_through_one_replica_is_no_longer_served_by_the_other(support, owner_on_b, app_on_a):
    register(support, "refund-policy")
    publish(support, "refund-policy", [{"id": "refunds.md", "text": REFUND_30}])
    assert served_texts(ask(app_on_a)) == [REFUND_30]

    assert owner_on_b.delete("/v1/sources/refund-policy").status_code == 200

    answer = ask(app_on_a)
    assert answer["results"] == [] and answer["status"] == "insufficient_context"


def test_a_source_first_published_through_one_replica_is_served_by_the_other(support, owner_on_b, app_on_a):
    register(support, "shipping-policy")
    publish(support, "shipping-policy", [{"id": "shipping.md", "text": "Delivery takes three days."}])
    assert ask(app_on_a, "refund")["results"] == []

    register(owner_on_b, "refund-policy")
    publish(owner_on_b, "refund-policy", [{"id": "refunds.md", "text": REFUND_30}])

    assert served_texts(ask(app_on_a, "refund")) == [REFUND_30]


def test_content_verified_through_one_replica_is_judged_fresh_by_the_other(support, owner_on_b, app_on_a, clock):
    register(support, "refund-policy")
    publish(support, "refund-policy", [{"id": "refunds.md", "text": REFUND_30}])
    clock.advance(days=8)  # past the policy class's max age of 7 days
    stale = ask(app_on_a)
    assert stale["results"] == [] and stale["rejected"][0]["reason"] == "stale"

    assert owner_on_b.post("/v1/sources/refund-policy/verify").status_code == 200

    fresh = ask(app_on_a)
    assert served_texts(fresh) == [REFUND_30]
    assert fresh["results"][0]["freshness"] == "fresh" and fresh["results"][0]["age_seconds"] == 0


def test_tags_and_title_changed_through_one_replica_are_used_by_the_other(support, owner_on_b, app_on_a, admin):
    register(support, "refund-policy", tags=["eu"])
    publish(support, "refund-policy", [{"id": "refunds.md", "text": REFUND_30}])
    assert served_texts(ask(app_on_a, filters={"tags": ["eu"]})) == [REFUND_30]
    assert ask(app_on_a, filters={"tags": ["us"]})["results"] == []

    changed = owner_on_b.patch("/v1/sources/refund-policy", json={"tags": ["us"], "title": "US refunds"})
    assert changed.status_code == 200, changed.text

    assert ask(app_on_a, filters={"tags": ["eu"]})["results"] == []
    answer = ask(app_on_a, filters={"tags": ["us"]})
    assert served_texts(answer) == [REFUND_30]
    record = admin.get(f"/v1/audit/retrievals/{answer['request_id']}").json()
    assert record["sources"]["refund-policy"]["title"] == "US refunds"


def test_concurrent_first_changes_both_commit_and_the_last_token_stands(settings, client):
    """Two transactions write the serving token of a database that has none yet: the one that loses the race
    to create the row moves it instead, without undoing the rest of its transaction."""
    engine = client.app.state.runtime.engine
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        assert state_value(session, SERVING_KEY) is None
    first = sessions()
    serving_changed(first)
    written: list[str | None] = []
    failures: list[BaseException] = []

    def second() -> None:
        try:
            with session_scope(sessions) as session:
                serving_changed(session)  # waits for the first transaction's row on PostgreSQL
                written.append(state_value(session, SERVING_KEY))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(0.5)  # it waits for the first transaction (SQLite's write lock, or the row on PostgreSQL)
    first_token = state_value(first, SERVING_KEY)
    first.commit()
    first.close()
    thread.join(30)
    assert failures == [] and len(written) == 1
    with session_scope(sessions) as session:
        assert state_value(session, SERVING_KEY) == written[0] != first_token
