"""Points no active snapshot serves that carry no dead mark yet pass the store's filter: between an
activation's commit and its marks, when the store refused the marks, or after a retire in process that did
not open the store, until reconciliation marks them. They must not take the places of the chunks the active
snapshots serve: the search is made again deeper."""

from __future__ import annotations

from freshness.cli.sources import OPERATOR
from freshness.db import session_scope
from freshness.sources.service import retire_source
from tests.conftest import Api, publish, register

LOUD = [{"id": f"r{i}.md", "text": f"Refunds accepted days, refunds accepted days, part {i}."} for i in range(12)]


def _top(reader: Api) -> list[dict]:
    response = reader.post("/v1/retrieve", json={"query": "refunds accepted days", "task_class": "general_question",
                                                 "top_k": 1})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_superseded_points_the_store_would_not_mark_do_not_crowd_out_the_active_snapshot(support, client, keys,
                                                                                         monkeypatch):
    store = client.app.state.runtime.store
    register(support, "refund-policy")
    publish(support, "refund-policy", LOUD, version="v1")

    def unreachable(ids, seq):
        raise ConnectionError("the store does not answer")

    monkeypatch.setattr(store, "mark_dead", unreachable)
    v2 = publish(support, "refund-policy", [{"id": f"r{i}.md", "text": f"Refunds within 14 days, terms {i}."}
                                            for i in range(12)], version="v2")
    monkeypatch.undo()  # the store answers again; the twelve superseded points stay unmarked until reconciled

    served = _top(Api(client, keys.reader))
    assert [r["snapshot_id"] for r in served] == [v2["snapshot"]["id"]]


def test_a_source_retired_in_process_does_not_crowd_out_a_live_one(support, client, keys, clock):
    register(support, "old-policy")
    publish(support, "old-policy", LOUD)
    register(support, "new-policy")
    publish(support, "new-policy", [{"id": "n.md", "text": "Refunds are accepted within 14 days of delivery."}])
    runtime = client.app.state.runtime
    with session_scope(runtime.sessions) as session:  # `freshness sources retire` without --api-url
        retire_source(session, OPERATOR, "old-policy", clock.now())

    assert [r["source_id"] for r in _top(Api(client, keys.reader))] == ["new-policy"]
