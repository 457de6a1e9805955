"""An auditor reads and verifies the log while retrievals keep writing to it. Audit reads take no
write lock, and a verify reads a page at a time, so neither waits for the writers nor holds them up."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import create_engine, event, select, update

from freshness.audit.chain import record_hash
from freshness.models import AuditChainHead, Retrieval, RetrievalChunk
from tests.conftest import PG_URL

RECORDS, CHUNKS, HEAD = Retrieval.__table__, RetrievalChunk.__table__, AuditChainHead.__table__


@pytest.mark.skipif(bool(PG_URL), reason="on PostgreSQL no read ever waits for a writer")
def test_audit_reads_answer_while_another_process_holds_the_write_lock(audited, settings):
    checkpoint = audited.get("/v1/audit/checkpoint").json()
    writer = sqlite3.connect(settings.resolved_database_url.split("///", 1)[1], isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # SQLite's one write lock, held by another process
    writer.execute("UPDATE audit_chain_head SET note = 'busy' WHERE id = 1")
    try:
        answers = {
            "record": audited.get("/v1/audit/retrievals/r1"),
            "search": audited.get("/v1/audit/retrievals", params={"source_id": "refund-policy"}),
            "verify": audited.get("/v1/audit/verify"),
            "verify with checkpoint": audited.get("/v1/audit/verify", params=checkpoint),
            "checkpoint": audited.get("/v1/audit/checkpoint"),
            "public key": audited.get("/v1/audit/public-key"),
        }
    finally:
        writer.execute("ROLLBACK")
        writer.close()

    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(answers, 200)
    assert answers["record"].json()["request_id"] == "r1"
    assert len(answers["search"].json()["items"]) == 4
    assert answers["verify"].json() == {"ok": True, "records_checked": 4, "first_bad": None}
    assert answers["verify with checkpoint"].json()["ok"] is True
    assert answers["checkpoint"].json()["seq"] == 4


def _append(conn, request_id: str) -> None:
    """What a retrieval's audit write does: one more record chained on the head, and the head moved."""
    head = conn.execute(select(HEAD.c.seq, HEAD.c.last_hash).where(HEAD.c.id == 1)).one()
    model = conn.execute(select(RECORDS).where(RECORDS.c.seq == head.seq)).mappings().one()
    content = {**model["content"], "request_id": request_id}
    digest = record_hash(head.last_hash, content)
    seq = head.seq + 1
    conn.execute(RECORDS.insert(), [{**model, "request_id": request_id, "seq": seq, "content": content,
                                     "prev_hash": head.last_hash, "record_hash": digest}])
    rows = conn.execute(select(CHUNKS).where(CHUNKS.c.seq == head.seq)).mappings().all()
    conn.execute(CHUNKS.insert(), [{**{k: v for k, v in r.items() if k != "id"}, "request_id": request_id,
                                    "seq": seq} for r in rows])
    conn.execute(update(HEAD).where(HEAD.c.id == 1).values(seq=seq, last_hash=digest))


def test_records_are_written_while_a_verify_runs_and_it_checks_them_too(audited, client, settings, monkeypatch):
    from freshness.audit import verify

    monkeypatch.setattr(verify, "VERIFY_BATCH", 1)
    # Another writer that will not wait: SQLite's lock held by the verify would fail it at once.
    other = create_engine(settings.resolved_database_url,
                          connect_args={"timeout": 0} if settings.resolved_database_url.startswith("sqlite") else {})
    pages, failures = [], []

    def between_pages(conn, cursor, statement, params, context, executemany):
        if "FROM retrievals" in statement and "ORDER BY retrievals.seq" in statement:
            pages.append(statement)
            if len(pages) in (2, 4):  # while the walk is under way
                try:
                    with other.begin() as write:
                        _append(write, f"late-{len(pages)}")
                except Exception as exc:  # noqa: BLE001 - reported below
                    failures.append(exc)

    engine = client.app.state.runtime.engine
    event.listen(engine, "before_cursor_execute", between_pages)
    try:
        report = audited.get("/v1/audit/verify").json()
    finally:
        event.remove(engine, "before_cursor_execute", between_pages)
        other.dispose()

    assert failures == []
    assert report == {"ok": True, "records_checked": 6, "first_bad": None}
    assert len(pages) > 6  # a page per record: each its own short read
