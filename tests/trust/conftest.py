"""Fixtures of the trust tests: a second reader key, answers on record, and the `freshness` command."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from freshness.auth.keys import create_key
from freshness.cli import main
from freshness.db import make_engine, make_session_factory, session_scope
from tests.conftest import Api


@pytest.fixture
def other_reader(settings, clock) -> str:
    """A reader key of another application."""
    engine = make_engine(settings.resolved_database_url)
    with session_scope(make_session_factory(engine)) as session:
        key = create_key(session, "reader", "another app", clock.now())[1]
    engine.dispose()
    return key


@pytest.fixture
def reader(admin: Api, keys) -> Api:
    return admin.as_key(keys.reader)


def ask(api: Api, request_id: str, task_class: str = "general_question", query: str = "refund", **extra) -> dict:
    response = api.post("/v1/retrieve", json={"query": query, "task_class": task_class, "request_id": request_id,
                                              **extra})
    assert response.status_code == 200, response.text
    return response.json()


def tell(api: Api, request_id: str, outcome: str, expect: int = 201, **extra) -> dict:
    response = api.post(f"/v1/retrievals/{request_id}/outcome", json={"outcome": outcome, **extra})
    assert response.status_code == expect, response.text
    return response.json()


@pytest.fixture
def cli(cli_env, monkeypatch):
    monkeypatch.delenv("FRESHNESS_API_URL", raising=False)
    monkeypatch.delenv("FRESHNESS_KEY", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)
