"""Shared fixtures: a migrated database (SQLite, or PostgreSQL from FRESHNESS_TEST_DATABASE_URL),
an embedded store in a temp dir, a clock the test moves, and an app with keys for every role."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from freshness.app import create_app
from freshness.audit.chain import GENESIS
from freshness.auth.keys import create_key
from freshness.clock import ManualClock
from freshness.db import Base, make_engine, make_session_factory, session_scope
from freshness.migrate import upgrade
from freshness.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("FRESHNESS_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Run the real migrations once: into a template SQLite file, or into the PostgreSQL database."""
    if PG_URL:
        engine = make_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        upgrade(PG_URL)
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Path) -> Iterator[str]:
    if PG_URL:
        engine = make_engine(PG_URL)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} CASCADE"))
            conn.execute(text(f"INSERT INTO audit_chain_head (id, seq, last_hash) VALUES (1, 0, '{GENESIS}')"))
        engine.dispose()
        yield PG_URL
        return
    path = tmp_path / "freshness.db"
    shutil.copy(migrated_template, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    shutil.copy(ROOT / "config" / "policy.toml", path)
    return path


@pytest.fixture
def settings(tmp_path: Path, database_url: str, policy_file: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        policy_file=policy_file,
        scheduler=False,
        chunk_size=200,
        chunk_overlap=20,
        write_batch=64,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@dataclass
class Keys:
    admin: str
    reader: str
    auditor: str
    support: str  # publisher bound to owner "support"
    catalog: str  # publisher bound to owner "catalog-team"


@pytest.fixture
def keys(settings: Settings, clock: ManualClock) -> Keys:
    engine = make_engine(settings.resolved_database_url)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        made = {
            "admin": create_key(session, "admin", "ops", clock.now())[1],
            "reader": create_key(session, "reader", "assistant", clock.now())[1],
            "auditor": create_key(session, "auditor", "audit", clock.now())[1],
            "support": create_key(session, "publisher", "support team", clock.now(), owner="support")[1],
            "catalog": create_key(session, "publisher", "catalog team", clock.now(), owner="catalog-team")[1],
        }
    engine.dispose()
    return Keys(**made)


class Api:
    """A test client that sends a given key."""

    def __init__(self, client: TestClient, key: str | None) -> None:
        self.client = client
        self.key = key

    def _headers(self, extra: dict | None) -> dict:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        headers.update(extra or {})
        return headers

    def get(self, path: str, **kw):
        return self.client.get(path, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, path: str, json=None, **kw):
        return self.client.post(path, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    def patch(self, path: str, json=None, **kw):
        return self.client.patch(path, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    def delete(self, path: str, **kw):
        return self.client.delete(path, headers=self._headers(kw.pop("headers", None)), **kw)

    def as_key(self, key: str | None) -> Api:
        return Api(self.client, key)


@pytest.fixture
def client(settings: Settings, clock: ManualClock, keys: Keys) -> Iterator[TestClient]:
    app = create_app(settings, clock=clock)
    with TestClient(app=app) as test_client:
        yield test_client


@pytest.fixture
def admin(client: TestClient, keys: Keys) -> Api:
    return Api(client, keys.admin)


@pytest.fixture
def support(client: TestClient, keys: Keys) -> Api:
    return Api(client, keys.support)


def register(api: Api, source_id: str, source_class: str = "policy", owner: str = "support", **extra) -> dict:
    body = {"id": source_id, "title": source_id.replace("-", " ").title(), "owner": owner,
            "source_class": source_class, **extra}
    response = api.post("/v1/sources", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def publish(api: Api, source_id: str, documents: list[dict], expect: int = 201, **extra) -> dict:
    response = api.post(f"/v1/sources/{source_id}/snapshots", json={"documents": documents, **extra})
    assert response.status_code == expect, response.text
    return response.json()


@pytest.fixture
def cli_env(settings, monkeypatch, tmp_path):
    """Point the `freshness` command at the test's database, data dir and policy."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FRESHNESS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FRESHNESS_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("FRESHNESS_POLICY_FILE", str(settings.policy_file))
    return settings
