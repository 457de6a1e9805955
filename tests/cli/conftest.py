"""The `cli` fixture: run the `freshness` command against the test's database, store and policy."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from freshness.cli import main


@pytest.fixture
def cli(settings, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FRESHNESS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FRESHNESS_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("FRESHNESS_POLICY_FILE", str(settings.policy_file))
    monkeypatch.delenv("FRESHNESS_API_URL", raising=False)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return run
