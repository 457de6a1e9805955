"""Migration 0006 on a database that already holds snapshots: each chunk row's point is the one named by
its own chunk id, as points were written before they were shared, and the step can be undone, copied
rows taking back the text stored once in the row that holds their point."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import text

from freshness.db import make_engine
from freshness.migrate import alembic_config, upgrade


def test_existing_chunk_rows_name_their_own_points(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0005")
    engine = make_engine(url)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO sources (id, title, owner, source_class, tags, metadata, created_at, updated_at,"
            " consecutive_failures) VALUES ('s', 'S', 'o', 'policy', '[]', '{}', :at, :at, 0)"), {"at": at})
        conn.execute(text(
            "INSERT INTO snapshots (id, source_id, state, content_hash, captured_at, verified_at, created_at,"
            " document_count, chunk_count, has_dense, stats) VALUES ('snap', 's', 'active', 'h', :at, :at, :at,"
            " 1, 2, 0, '{}')"), {"at": at})
        conn.execute(text(
            "INSERT INTO documents (snapshot_id, document_id, position, metadata, content_hash, chunk_count)"
            " VALUES ('snap', 'd', 0, '{}', 'h', 2)"))
        for position, chunk_id in enumerate(("c-1", "c-2")):
            conn.execute(text(
                "INSERT INTO chunks (chunk_id, snapshot_id, source_id, document_id, position, text, content_hash)"
                " VALUES (:cid, 'snap', 's', 'd', :pos, :text, 'h')"),
                {"cid": chunk_id, "pos": position, "text": ("text one", "text two")[position]})
    upgrade(url)
    with engine.connect() as conn:
        chunks = conn.execute(text("SELECT chunk_id, point_id FROM chunks ORDER BY position")).all()
        sent = conn.execute(text("SELECT sent_hash FROM documents")).scalar_one()
    assert [tuple(r) for r in chunks] == [("c-1", "c-1"), ("c-2", "c-2")]
    assert sent is None
    with engine.begin() as conn:  # a later snapshot's copy of c-1, whose text is stored once, in c-1's row
        conn.execute(text(
            "INSERT INTO snapshots (id, source_id, state, content_hash, captured_at, verified_at, created_at,"
            " document_count, chunk_count, has_dense, stats) VALUES ('snap-2', 's', 'superseded', 'h', :at, :at,"
            " :at, 1, 1, 0, '{}')"), {"at": at})
        conn.execute(text(
            "INSERT INTO chunks (chunk_id, snapshot_id, source_id, document_id, position, content_hash, point_id)"
            " VALUES ('c-3', 'snap-2', 's', 'd', 0, 'h', 'c-1')"))

    command.downgrade(alembic_config(url), "0005")
    with engine.connect() as conn:
        chunk_columns = {r[1] for r in conn.execute(text("PRAGMA table_info(chunks)"))}
        document_columns = {r[1] for r in conn.execute(text("PRAGMA table_info(documents)"))}
        kept = dict(conn.execute(text("SELECT chunk_id, text FROM chunks")).all())
    engine.dispose()
    assert "point_id" not in chunk_columns and "sent_hash" not in document_columns
    assert kept == {"c-1": "text one", "c-2": "text two", "c-3": "text one"}
