"""Fixtures of the fault tests: a service on a private PostgreSQL cluster that the test may stop or
pause, with a short database timeout."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from freshness.app import create_app
from freshness.auth.keys import create_key
from freshness.db import Base, make_engine, make_session_factory, session_scope
from freshness.migrate import upgrade
from freshness.settings import Settings
from tests.conftest import GENESIS, PG_URL, Api
from tests.faults.pgcluster import Cluster, available

DB_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if not PG_URL:
        pytest.skip("PostgreSQL fault tests run in the PostgreSQL pass (FRESHNESS_TEST_DATABASE_URL)")
    why = available()
    if why:
        pytest.skip(f"no private PostgreSQL cluster: {why}")
    made = Cluster()
    try:
        upgrade(made.url)
        yield made
    finally:
        made.destroy()


@dataclass
class Service:
    """The app on the private cluster, and a key of each role it needs."""

    cluster: Cluster
    settings: Settings
    admin: Api
    reader: Api


@pytest.fixture
def service(cluster: Cluster, tmp_path, policy_file, clock) -> Iterator[Service]:
    engine = make_engine(cluster.url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} CASCADE"))
        conn.execute(text(f"INSERT INTO audit_chain_head (id, seq, last_hash) VALUES (1, 0, '{GENESIS}')"))
    with session_scope(make_session_factory(engine)) as session:
        admin_key = create_key(session, "admin", "ops", clock.now())[1]
        reader_key = create_key(session, "reader", "assistant", clock.now())[1]
    engine.dispose()
    settings = Settings(data_dir=tmp_path / "data", database_url=cluster.url, policy_file=policy_file,
                        scheduler=False, chunk_size=200, chunk_overlap=20, db_timeout=DB_TIMEOUT)
    try:
        with TestClient(app=create_app(settings, clock=clock)) as client:
            yield Service(cluster, settings, Api(client, admin_key), Api(client, reader_key))
    finally:
        # Whatever the test did to the server, the next one finds it running.
        if (cluster.data / "postmaster.pid").exists():
            cluster.resume()
        else:
            cluster.start()
        cluster.wait_ready()
