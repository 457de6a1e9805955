"""RAG applications retrieve while owners roll snapshots back and forth: on PostgreSQL the retrievals'
share locks and the activations' updates meet on the same rows. Taken in one order everywhere (source
row, then its snapshots) they never wait for each other in a circle, and a deadlock the database still
reports would be retried rather than answered with a 5xx."""

from __future__ import annotations

import threading
import time
from collections import Counter

from sqlalchemy import event

from freshness.dbfaults import is_transient
from tests.conftest import publish, register

SECONDS = 4
READERS = 4


def _two_versions(admin, source_id: str) -> list[str]:
    register(admin, source_id)
    ids = []
    for days in (30, 14):
        text = f"Refunds for {source_id} are accepted within {days} days."
        ids.append(publish(admin, source_id, [{"id": "refunds.md", "text": text}])["snapshot"]["id"])
    return ids


def _storm(admin, keys, activators: int, pause: float) -> tuple[dict[str, Counter], list[str]]:
    """READERS threads retrieve and `activators` threads roll both sources back and forth for SECONDS.
    Returns the answers by kind (status, or the detail of a 5xx) and every deadlock the database reported."""
    snapshots = [_two_versions(admin, source) for source in ("refund-policy", "returns-policy")]
    reader = admin.as_key(keys.reader)
    answers: dict[str, Counter] = {"retrieve": Counter(), "activate": Counter()}
    deadlocks: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS

    def seen(context) -> None:  # noqa: ANN001
        if is_transient(context.original_exception):
            deadlocks.append(str(context.original_exception).splitlines()[0])

    def note(kind: str, response) -> None:  # noqa: ANN001
        with lock:
            code = response.status_code
            answers[kind][code if code < 500 else response.json().get("detail", response.text)] += 1

    def read() -> None:
        while time.monotonic() < stop:
            note("retrieve", reader.post("/v1/retrieve", json={"query": "refunds accepted days",
                                                               "task_class": "general_question", "top_k": 3}))

    def activate(turn: int) -> None:
        while time.monotonic() < stop:
            for ids in snapshots:
                note("activate", admin.post(f"/v1/snapshots/{ids[turn % 2]}/activate"))
                time.sleep(pause)
            turn += 1

    engine = admin.client.app.state.runtime.engine
    event.listen(engine, "handle_error", seen)
    try:
        threads = [threading.Thread(target=read) for _ in range(READERS)]
        threads += [threading.Thread(target=activate, args=(turn,)) for turn in range(activators)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        event.remove(engine, "handle_error", seen)
    for kind, counts in answers.items():
        assert sum(counts.values()) > 0, f"no {kind} ran"
    return answers, deadlocks


def test_retrievals_while_snapshots_are_activated_never_deadlock_nor_answer_5xx(admin, keys):
    answers, deadlocks = _storm(admin, keys, activators=1, pause=0.2)

    assert deadlocks == []
    for kind, counts in answers.items():
        assert all(isinstance(code, int) and code < 500 for code in counts), f"{kind}: {counts}"


def test_an_activation_storm_under_retrieval_load_never_deadlocks_nor_answers_500(admin, keys):
    answers, deadlocks = _storm(admin, keys, activators=6, pause=0)

    assert deadlocks == []
    # The last attempt of a retrieval answers under its sources' locks, so even a storm of activations
    # does not turn one into a 503.
    for kind, counts in answers.items():
        assert all(isinstance(code, int) and code < 500 for code in counts), f"{kind}: {counts}"
