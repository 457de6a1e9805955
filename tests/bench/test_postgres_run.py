"""`python -m bench --database-url`: the service's side of a run on PostgreSQL, never on a database in use."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import make_url, text
from sqlalchemy.exc import ProgrammingError

from bench import runner
from bench.runner import main, run
from bench.workspace import DATABASE_URL_ENV, DatabaseNotEmpty, Workspace
from freshness.db import make_engine
from tests.conftest import PG_URL

postgres_only = pytest.mark.skipif(not PG_URL, reason="runs in the PostgreSQL pass (FRESHNESS_TEST_DATABASE_URL)")


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A database made for the test on the test server, dropped afterwards."""
    assert PG_URL
    name = f"freshness_bench_{uuid.uuid4().hex[:12]}"
    server = make_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except ProgrammingError as exc:  # a role without CREATEDB
        server.dispose()
        pytest.skip(f"the test role may not create a database: {exc.orig}")
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def test_a_database_url_that_is_not_postgresql_is_refused() -> None:
    result = CliRunner().invoke(main, ["--size", "tiny", "--database-url", "sqlite:///elsewhere.db"])
    assert result.exit_code == 2
    assert "postgresql" in result.output


@postgres_only
def test_a_database_that_holds_tables_is_refused_before_anything_is_written(tmp_path: Path, database_url: str) -> None:
    # The test database holds the service's tables (migrated by the fixture) and other tests' rows.
    with pytest.raises(DatabaseNotEmpty, match="give an empty one"):
        Workspace(tmp_path / "run", database_url).create()
    assert not (tmp_path / "run").exists()
    earlier = tmp_path / "tiny" / "results.json"  # what an earlier run left in the work dir stays
    earlier.parent.mkdir()
    earlier.write_text("{}")
    result = CliRunner().invoke(main, ["--size", "tiny", "--work", str(tmp_path)],
                                env={DATABASE_URL_ENV: database_url})
    assert result.exit_code == 1
    assert "holds" in result.output and "tables" in result.output
    assert earlier.read_text() == "{}"
    assert not (tmp_path / "tiny" / "data").exists()


def test_the_database_url_reaches_the_ingestion_process_in_its_environment_only(tmp_path: Path, monkeypatch) -> None:
    """A password in the URL must not be on a command line, which any local user can read with `ps`."""
    url = "postgresql+psycopg://bench:s3cret-pw@127.0.0.1:5432/bench"
    seen: dict = {}

    class Child:
        def __init__(self, command, cwd, env) -> None:
            seen.update(command=command, env=env)
            (tmp_path / "ingestion.json").write_text('{"peak_rss": 1}')

    monkeypatch.setattr(runner.subprocess, "Popen", Child)
    monkeypatch.setattr(runner, "wait_peak_rss", lambda process: (0, 1))
    runner.run_ingestion("tiny", tmp_path, 7, database_url=url)
    assert "s3cret-pw" not in " ".join(seen["command"])
    assert seen["env"][DATABASE_URL_ENV] == url


@postgres_only
@pytest.mark.timeout(240)
def test_a_tiny_run_on_postgresql_keeps_the_service_on_it(tmp_path: Path, empty_database: str) -> None:
    results = run("tiny", seed=7, work=tmp_path, with_audit=False, database_url=empty_database)

    assert results["machine"]["database"].startswith("PostgreSQL ")
    retrieval = results["retrieval"]
    for name in ("service", "http_1", "http_n"):
        assert retrieval[name]["errors"] == 0, name
        assert retrieval[name]["audit_records"] == retrieval[name]["answers"], name
    assert results["ingestion"]["changed"]["new_snapshots"] >= 1
    # Every record is in PostgreSQL; the data dir holds the store and no database file.
    engine = make_engine(empty_database)
    try:
        with engine.connect() as conn:
            records = conn.execute(text("SELECT count(*) FROM retrievals")).scalar()
    finally:
        engine.dispose()
    answered = sum(retrieval[name]["answers"] for name in ("service", "hybrid_service", "http_1", "http_n"))
    assert records >= answered
    assert not (tmp_path / "tiny" / "data" / "freshness.db").exists()
