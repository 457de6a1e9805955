"""Fixtures of the audit tests: four answers on record, the `freshness` command, and a way to edit the
database behind the service's back as someone with write access to it would."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, create_engine, text

from freshness.cli import main
from tests.conftest import Api, publish, register

RECORDS = ["r0", "r1", "r2", "r3"]  # seq 1..4


@pytest.fixture
def cli(cli_env, monkeypatch):
    monkeypatch.delenv("FRESHNESS_API_URL", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def audited(admin, keys) -> Api:
    """Four answers on record, r0..r3 in this order; the auditor's view of them."""
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])
    reader = admin.as_key(keys.reader)
    for request_id in RECORDS:
        response = reader.post("/v1/retrieve", json={"query": "refund", "task_class": "general_question",
                                                     "request_id": request_id})
        assert response.status_code == 200, response.text
        assert response.json()["results"]
    return admin.as_key(keys.auditor)


@pytest.fixture
def tamper(settings) -> Callable[[Callable[[Connection], None]], None]:
    """Run `change` in one committed transaction with foreign keys not enforced, as an intruder may."""

    def run(change: Callable[[Connection], None]) -> None:
        # A plain engine: SQLite leaves foreign keys off unless asked; PostgreSQL skips them for a
        # superuser in replica mode.
        engine = create_engine(settings.resolved_database_url)
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SET LOCAL session_replication_role = replica"))
                change(conn)
        finally:
            engine.dispose()

    return run
