"""A deadlock or serialisation failure is the database asking for the unit of work again: it is run
again a few times, after a short random pause, before anything is reported; what still fails after
that is a 503, never a 500."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg.errors
import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from freshness.dbfaults import ATTEMPTS, retrying
from tests.conftest import PG_URL, publish, register
from tests.faults.bounded import assert_problem, starts_with


def _deadlock() -> Exception:
    return psycopg.errors.DeadlockDetected("deadlock detected") if PG_URL else sqlite3.OperationalError(
        "database is locked")


class Flaky:
    """Fails with `error` the first `failures` times it is called, then answers."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise OperationalError("UPDATE snapshots ...", {}, self.error)
        return "done"


@pytest.mark.parametrize("error", [psycopg.errors.DeadlockDetected("deadlock detected"),
                                   psycopg.errors.SerializationFailure("could not serialize access")])
def test_a_unit_of_work_that_deadlocks_twice_succeeds_on_the_third_try(error):
    work = Flaky(2, error)
    pauses: list[float] = []

    assert retrying(work, sleep=pauses.append) == "done"

    assert work.calls == 3
    assert len(pauses) == 2 and all(0 < pause < 1 for pause in pauses)


def test_a_deadlock_that_persists_is_raised_after_a_few_tries():
    work = Flaky(10, psycopg.errors.DeadlockDetected("deadlock detected"))

    with pytest.raises(OperationalError):
        retrying(work, sleep=lambda _: None)
    assert work.calls == ATTEMPTS


def test_other_errors_and_a_spent_budget_are_not_retried():
    syntax = Flaky(1, psycopg.errors.SyntaxError("syntax error"))
    with pytest.raises(OperationalError):
        retrying(syntax, sleep=lambda _: None)
    assert syntax.calls == 1

    # A lock wait that already used up the database timeout is not waited for again.
    locked = Flaky(1, sqlite3.OperationalError("database is locked"))
    with pytest.raises(OperationalError):
        retrying(locked, budget=0, sleep=lambda _: None)
    assert locked.calls == 1


@contextmanager
def failing(engine, statement_start: str, times: int) -> Iterator[list[int]]:
    """The next `times` statements of the app's engine starting with `statement_start` fail with a
    deadlock (SQLite: its busy error), as if the database had chosen them as the victim."""
    failed = [0]

    def execute(cursor, statement, parameters, context) -> None:  # noqa: ANN001
        if failed[0] < times and starts_with(statement, statement_start):
            failed[0] += 1
            raise _deadlock()

    event.listen(engine, "do_execute", execute)
    event.listen(engine, "do_executemany", execute)
    try:
        yield failed
    finally:
        event.remove(engine, "do_execute", execute)
        event.remove(engine, "do_executemany", execute)


def _engine(admin):
    return admin.client.app.state.runtime.engine


def _two_versions(admin) -> list[str]:
    register(admin, "refund-policy")
    return [publish(admin, "refund-policy", [{"id": "refunds.md", "text": f"Refunds within {days} days."}])
            ["snapshot"]["id"] for days in (30, 14)]


def test_an_activation_chosen_as_a_deadlock_victim_twice_still_succeeds(admin):
    first, _ = _two_versions(admin)

    with failing(_engine(admin), "UPDATE SNAPSHOTS", 2) as failed:
        response = admin.post(f"/v1/snapshots/{first}/activate")

    assert failed[0] == 2
    assert response.status_code == 200, response.text
    assert admin.get("/v1/sources/refund-policy").json()["active_snapshot"]["id"] == first


def test_a_retrieval_whose_audit_write_deadlocks_twice_still_answers_with_one_record(admin, keys):
    _two_versions(admin)

    with failing(_engine(admin), "INSERT INTO RETRIEVALS", 2) as failed:
        response = admin.as_key(keys.reader).post("/v1/retrieve", json={
            "query": "refunds days", "task_class": "general_question", "request_id": "deadlocked-twice"})

    assert failed[0] == 2
    assert response.status_code == 200, response.text
    assert admin.as_key(keys.auditor).get("/v1/audit/retrievals/deadlocked-twice").status_code == 200


def test_a_publish_whose_activation_deadlocks_twice_still_succeeds(admin):
    register(admin, "refund-policy")

    with failing(_engine(admin), "UPDATE SNAPSHOTS", 2) as failed:
        body = publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days."}])

    assert failed[0] == 2
    assert body["snapshot"]["state"] == "active"


def test_a_deadlock_that_persists_answers_503_not_500(admin):
    first, _ = _two_versions(admin)

    with failing(_engine(admin), "UPDATE SNAPSHOTS", 100):
        response = admin.post(f"/v1/snapshots/{first}/activate")

    assert_problem(response, 503, "database-unavailable")
