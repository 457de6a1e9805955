"""Reading sources, snapshots and the freshness report never waits for a writer.

On SQLite one writer holds the database at a time (a large publish, a burst of audit writes); a
content owner or a dashboard looking at sources must still get its answer. The test holds SQLite's
write lock from another connection for the whole of the reads.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from tests.conftest import PG_URL, publish, register

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite's single writer lock")


@pytest.fixture
def settings(settings):
    # A writer that waits gives up after one second, so a read that queued behind the lock would fail.
    return replace(settings, db_timeout=1.0)


def test_source_and_snapshot_reads_answer_while_another_connection_writes(admin, keys, settings):
    register(admin, "refund-policy")
    snapshot = publish(admin, "refund-policy", [{"id": "returns.md", "text": "Returns within 30 days."}])
    snapshot_id = snapshot["snapshot"]["id"]

    holder = sqlite3.connect(settings.resolved_database_url.removeprefix("sqlite:///"), timeout=0)
    holder.isolation_level = None
    holder.execute("BEGIN IMMEDIATE")
    try:
        reader = admin.as_key(keys.auditor)
        for path in ("/v1/sources", "/v1/sources/refund-policy", "/v1/sources/refund-policy/snapshots",
                     f"/v1/snapshots/{snapshot_id}", "/v1/freshness", "/v1/policy"):
            response = reader.get(path)
            assert response.status_code == 200, f"{path}: {response.text}"
    finally:
        holder.rollback()
        holder.close()
