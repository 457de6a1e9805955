"""A retrieval that reads the active set again (its copy's token moved) runs two statements; on PostgreSQL
(read committed) an activation may commit between them. The active set must then not be paired with the
serving state from before it, or the search would leave out the points the newly active snapshot wrote
(they were a publish in progress when the first statement ran)."""

from __future__ import annotations

import threading

from sqlalchemy import event

from freshness.sources import publish as publishing
from tests.conftest import Api, publish, register

NEW = "Refunds are accepted within 14 days of delivery."
OLD = "Refunds are accepted within 30 days of delivery."
OTHER = "Shipping takes three days."


def test_an_activation_between_the_reads_of_the_active_set_hides_nothing(support, client, keys, monkeypatch):
    runtime = client.app.state.runtime
    register(support, "refund-policy")
    publish(support, "refund-policy", [{"id": "refunds.md", "text": OLD}, {"id": "ship.md", "text": OTHER}])
    reserved, release, published = threading.Event(), threading.Event(), threading.Event()
    check_kept = publishing.check_kept

    def held(*args):
        reserved.set()
        assert release.wait(30)
        return check_kept(*args)

    monkeypatch.setattr(publishing, "check_kept", held)

    def second_publish() -> None:
        try:
            publish(support, "refund-policy", [{"id": "refunds.md", "text": NEW}, {"id": "ship.md", "text": OTHER}])
        finally:
            published.set()

    worker = threading.Thread(target=second_publish)
    worker.start()
    assert reserved.wait(30)  # the new snapshot is ingesting: the serving state lists its publish as in progress
    runtime.active._held = None  # the copy is stale, as after any change of what is served
    reads: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        if "JOIN sources" in statement and "sources.tags" in statement and not reads:
            reads.append(statement)  # the active set's rows, read after the serving state
            release.set()
            assert published.wait(30)  # the activation commits between the two reads

    event.listen(runtime.engine, "before_cursor_execute", before)
    try:
        response = Api(client, keys.reader).post(
            "/v1/retrieve", json={"query": "refunds accepted days", "task_class": "general_question", "top_k": 3})
    finally:
        event.remove(runtime.engine, "before_cursor_execute", before)
        release.set()
        worker.join(30)

    assert reads and response.status_code == 200, response.text
    texts = [r["text"] for r in response.json()["results"]]
    assert NEW in texts and OLD not in texts
