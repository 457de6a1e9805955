"""A data dir for one benchmark run: migrated database, embedded store, the policy, a reader key.

The database is an SQLite file in the data dir, or the PostgreSQL database `database_url` names, which must
hold no table when the run begins: a benchmark never writes into a database that holds anything else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from freshness.auth.keys import Principal, Role, create_key
from freshness.clock import SystemClock
from freshness.db import make_engine, session_scope
from freshness.migrate import upgrade
from freshness.runtime import Runtime, open_runtime
from freshness.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "config" / "policy.toml"
OPERATOR = Principal(key_id="bench", name="benchmark operator", role=Role.ADMIN, owner=None)


DATABASE_URL_ENV = "BENCH_DATABASE_URL"  # how the URL reaches the benchmark's child processes (never argv)


class DatabaseNotEmpty(Exception):
    """The database given for a benchmark run already holds tables."""


# Tables in every schema but PostgreSQL's own, not only the default one.
_TABLES = text("SELECT count(*) FROM pg_catalog.pg_tables"
               " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")


@dataclass(frozen=True)
class Workspace:
    root: Path
    database_url: str = ""  # empty: an SQLite file in the data dir

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, database_url=self.database_url, policy_file=POLICY, scheduler=False)

    @property
    def reader_key_file(self) -> Path:
        return self.root / "reader.key"

    def create(self) -> None:
        """Migrate a fresh database and make a reader key (its value kept in a file for the HTTP clients)."""
        self.require_empty_database()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(self.settings.resolved_database_url)
        runtime = open_runtime(self.settings)
        try:
            with session_scope(runtime.sessions) as session:
                _, key = create_key(session, "reader", "bench reader", runtime.clock.now())
            self.reader_key_file.write_text(key)
        finally:
            runtime.close()

    def require_empty_database(self) -> None:
        """Refuse a PostgreSQL database that holds any table (DatabaseNotEmpty)."""
        if not self.database_url:
            return
        engine = make_engine(self.database_url)
        try:
            with engine.connect() as conn:
                tables = conn.execute(_TABLES).scalar() or 0
        finally:
            engine.dispose()
        if tables:
            raise DatabaseNotEmpty(f"the database given for the benchmark holds {tables} tables; give an empty"
                                   " one (for example: DROP DATABASE bench; CREATE DATABASE bench)")

    def open(self) -> Runtime:
        return open_runtime(self.settings, clock=SystemClock())

    def reader(self, runtime: Runtime) -> Principal:
        from freshness.auth.keys import authenticate

        with session_scope(runtime.sessions) as session:
            return authenticate(session, "Bearer " + self.reader_key_file.read_text().strip())
