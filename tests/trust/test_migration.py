"""Migration 0004 on a database that already holds audit records: each chunk row takes its
source's class from the record it belongs to, and the step can be undone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import text

from freshness.db import make_engine
from freshness.migrate import alembic_config, upgrade


def test_existing_chunk_rows_take_their_class_from_the_record(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0003")
    engine = make_engine(url)
    served = datetime(2026, 1, 1, tzinfo=UTC)
    content = ('{"sources": {"refunds": {"source_class": "policy"}, "items": {"source_class": "catalog"}}}')
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO retrievals (request_id, seq, served_at, task_class, status, policy_version, key_id,"
            " content, prev_hash, record_hash) VALUES ('r1', 1, :at, 't', 'ok', 'v', 'k', :content, 'p', 'h')"),
            {"at": served, "content": content})
        for source_id in ("refunds", "items", "refunds"):
            conn.execute(text(
                "INSERT INTO retrieval_chunks (request_id, seq, kind, chunk_id, source_id, snapshot_id, freshness,"
                " age_seconds, max_age_seconds) VALUES ('r1', 1, 'served', 'c', :sid, 's', 'fresh', 0, 10)"),
                {"sid": source_id})
    upgrade(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT source_id, source_class FROM retrieval_chunks ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("refunds", "policy"), ("items", "catalog"), ("refunds", "policy")]

    command.downgrade(alembic_config(url), "0003")
    with engine.connect() as conn:
        tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
        columns = {r[1] for r in conn.execute(text("PRAGMA table_info(retrieval_chunks)"))}
    engine.dispose()
    assert "outcomes" not in tables
    assert "source_class" not in columns
