"""PostgreSQL goes away under a running service: stopped, or paused so that it accepts connections and
answers nothing. Every request answers 503 problem details within about FRESHNESS_DB_TIMEOUT instead
of a 500 or a hang, `/ready` fails, the service comes back by itself when the database does, and a
retrieval that answered 503 never gets its audit record committed later."""

from __future__ import annotations

import threading
import time

from sqlalchemy import event, text

from freshness.db import make_engine
from tests.conftest import publish, register
from tests.faults.bounded import answers_within, assert_problem
from tests.faults.conftest import DB_TIMEOUT, Service

# libpq waits at least 2 s for a connection; a pooled connection is pinged first. Far below the 45 s of a hang.
BOUND = DB_TIMEOUT + 9
ASK = {"query": "refund days", "task_class": "general_question"}


def _corpus(service: Service) -> None:
    register(service.admin, "refund-policy")
    publish(service.admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])


def _requests(service: Service, tag: str) -> dict:
    documents = [{"id": "refunds.md", "text": f"Refunds are accepted within 14 days ({tag})."}]
    return {
        "retrieve": lambda: service.reader.post("/v1/retrieve", json=ASK, headers={"X-Request-ID": f"{tag}-1"}),
        "list sources": lambda: service.reader.get("/v1/sources"),
        "publish": lambda: service.admin.post("/v1/sources/refund-policy/snapshots", json={"documents": documents}),
        "ready": lambda: service.admin.client.get("/ready"),
    }


def _assert_all_unavailable(answers: dict) -> None:
    for name, answer in answers.items():
        assert_problem(answer, 503, "not-ready" if name == "ready" else "database-unavailable")


def _records(service: Service, prefix: str) -> list[str]:
    engine = make_engine(service.cluster.url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(text("SELECT request_id FROM retrievals WHERE request_id LIKE :p"),
                                     {"p": f"{prefix}%"}))
    finally:
        engine.dispose()


def _assert_recovered(service: Service, tag: str) -> None:
    answers = answers_within(BOUND, _requests(service, tag))
    assert answers["retrieve"].status_code == 200, answers["retrieve"].text
    assert answers["list sources"].status_code == 200, answers["list sources"].text
    assert answers["publish"].status_code == 201, answers["publish"].text
    assert answers["ready"].status_code == 200, answers["ready"].text


def test_a_stopped_database_answers_503_everywhere_and_recovers_without_a_restart(service):
    _corpus(service)

    service.cluster.stop()
    _assert_all_unavailable(answers_within(BOUND, _requests(service, "stopped")))

    service.cluster.start()
    _assert_recovered(service, "restarted")


def test_a_paused_database_answers_503_within_the_timeout_and_recovers(service):
    _corpus(service)
    # Pooled connections exist: requests meet a server that holds their connections open and never answers.
    assert service.reader.post("/v1/retrieve", json=ASK).status_code == 200

    service.cluster.pause()
    try:
        answers = answers_within(BOUND, _requests(service, "paused"))
    finally:
        service.cluster.resume()
    _assert_all_unavailable(answers)

    _assert_recovered(service, "resumed")
    assert _records(service, "paused") == []


def test_a_retrieval_refused_while_its_commit_waited_is_never_committed_later(service):
    """The server stops answering right before the audit record's COMMIT reaches it: the client gets a
    503, and when the server resumes and reads that COMMIT, the transaction must already be over."""
    _corpus(service)
    engine = service.admin.client.app.state.runtime.engine
    paused = threading.Event()

    def pause_before_commit(conn) -> None:  # noqa: ANN001
        if not paused.is_set() and conn.info.get("audit"):
            paused.set()
            service.cluster.pause()

    def mark_audit(conn, cursor, statement, *_args) -> None:  # noqa: ANN001
        if "INSERT INTO RETRIEVALS" in statement.upper():  # alone, or in the statement that appends records
            conn.info["audit"] = True

    event.listen(engine, "before_cursor_execute", mark_audit)
    event.listen(engine, "commit", pause_before_commit)
    try:
        answer = answers_within(BOUND, {"retrieve": lambda: service.reader.post(
            "/v1/retrieve", json=ASK, headers={"X-Request-ID": "late-commit-1"})})["retrieve"]
    finally:
        event.remove(engine, "commit", pause_before_commit)
        event.remove(engine, "before_cursor_execute", mark_audit)
        service.cluster.resume()
    assert paused.is_set()
    assert_problem(answer, 503, "database-unavailable")

    # The resumed server has read the COMMIT by now; a record committed after the 503 would show here.
    time.sleep(2)
    assert _records(service, "late-commit") == []
    assert service.reader.post("/v1/retrieve", json=ASK).status_code == 200
    assert service.admin.get("/v1/audit/verify").json()["ok"] is True
