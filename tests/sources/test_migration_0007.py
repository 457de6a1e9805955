"""Migration 0007: the chunk indexes a re-publish adds to at their ends, the same as the models declare; the
lookups that read them still go through an index, and the step can be undone."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from freshness.db import Base, make_engine
from freshness.migrate import alembic_config, upgrade


def _indexes(conn) -> dict[str, str]:
    rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'chunks'"
                             " AND sql IS NOT NULL"))
    return dict(rows.all())


def _plan(conn, sql: str) -> str:
    return " ".join(row[3] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))


def test_the_chunk_indexes_serve_the_lookups_and_match_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url, "0006")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert "ix_chunks_point" in _indexes(conn)
    upgrade(url)
    with engine.connect() as conn:
        indexes = _indexes(conn)
        assert "ix_chunks_point" not in indexes
        assert indexes["ix_chunks_snapshot_point"].endswith("(snapshot_id, point_id)")
        assert indexes["ix_chunks_source_hash"].endswith("WHERE text IS NOT NULL")
        # Retrieval reads a hit's row by point and snapshot; publishing looks reusable vectors up by hash.
        assert "ix_chunks_snapshot_point" in _plan(
            conn, "SELECT chunk_id FROM chunks WHERE point_id IN ('p1', 'p2') AND snapshot_id IN ('s1')")
        assert "ix_chunks_source_hash" in _plan(
            conn, "SELECT point_id FROM chunks WHERE source_id = 's' AND content_hash IN ('h1', 'h2')"
                  " AND text IS NOT NULL")
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []

    command.downgrade(alembic_config(url), "0006")
    with engine.connect() as conn:
        indexes = _indexes(conn)
    engine.dispose()
    assert "ix_chunks_snapshot_point" not in indexes and "ix_chunks_point" in indexes
    assert "WHERE" not in indexes["ix_chunks_source_hash"]
