"""The `cli` fixture: run the `freshness` command against the test's database, store and policy."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from freshness.cli import main


@pytest.fixture
def cli(cli_env, monkeypatch):
    monkeypatch.delenv("FRESHNESS_API_URL", raising=False)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return run
