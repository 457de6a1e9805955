"""A publisher hands the GIL to retrievals of its own process only while one is going on: with nobody
retrieving, the hand-over would only cost the publish its turn on a busy machine."""

from __future__ import annotations

import pytest

from freshness.vectorstore import handover
from tests.conftest import publish, register


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    calls: list[float] = []
    monkeypatch.setattr(handover.time, "sleep", calls.append)
    return calls


def test_no_hand_over_while_nobody_retrieves(sleeps):
    handover.hand_over()
    assert sleeps == []


def test_a_hand_over_while_a_retrieval_is_going_on(sleeps):
    with handover.readers:
        handover.hand_over()
        with handover.readers:
            assert handover.readers.active == 2
    assert sleeps == [0]
    assert handover.readers.active == 0


def test_a_retrieval_counts_itself_in_for_its_whole_answer_and_out_after(admin, keys, monkeypatch):
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])
    store = admin.client.app.state.runtime.store
    seen: list[int] = []
    search = store.search

    def counting(*args, **kwargs):
        seen.append(handover.readers.active)
        return search(*args, **kwargs)

    monkeypatch.setattr(store, "search", counting)
    reader = admin.as_key(keys.reader)
    assert reader.post("/v1/retrieve", json={"query": "refund", "task_class": "general_question"}).status_code == 200
    assert reader.post("/v1/retrieve", json={"query": "refund", "task_class": "nope"}).status_code == 422

    assert seen == [1]
    assert handover.readers.active == 0
