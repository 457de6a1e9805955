"""Audit records of a group commit are written together: the chain head is locked and moved once, and the
records and their chunk rows go in with one statement each (on PostgreSQL one statement for the records,
their chunk rows and the head's move), chained in order as if written one by one."""

from __future__ import annotations

import json

import msgspec
import pytest
from sqlalchemy import Text, cast, event, select

from freshness.audit.chain import chained_hash
from freshness.audit.record import RecordedKey, RecordInput, RejectedEntry, ServedEntry, SnapshotFacts, SourceFacts
from freshness.audit.verify import verify_chain
from freshness.audit.writer import write_record, write_records
from freshness.db import session_scope
from freshness.hashing import canonical_json
from freshness.models import Retrieval, RetrievalChunk
from tests.conftest import PG_URL


@pytest.fixture
def runtime(client):
    return client.app.state.runtime


def record(n: int, now) -> RecordInput:
    source = SourceFacts(id="refund-policy", title="Refunds", owner="support", uri=None, source_class="policy")
    snapshot = SnapshotFacts(id="snap-1", version="v1", captured_at=now, verified_at=now, valid_until=None,
                             content_hash="sha256:" + "ab" * 32)
    served = [ServedEntry(rank=1, chunk_id=f"chunk-{n}", text="Refunds take 14 days.", score=1.5,
                          document_id="refunds.md", uri=None, age_seconds=60, max_age_seconds=604800,
                          freshness="fresh", content_hash="sha256:" + "cd" * 32, source=source, snapshot=snapshot)]
    rejected = [RejectedEntry(chunk_id=f"old-{n}", reason="stale", age_seconds=900000, max_age_seconds=604800,
                              source=source, snapshot=snapshot)] if n % 2 else []
    return RecordInput(request_id=f"req-{n}", served_at=now, status="ok", task_class="refund_decision",
                       criticality="critical", policy_version="sha256:" + "ef" * 32,
                       principal=RecordedKey(key_id="key-1", name="reader", role="reader"), query=f"refund {n}",
                       hash_query_text=False, filters=None, top_k=5, vector_given=False, latency_ms=3,
                       served=served, rejected=rejected)


def test_a_batch_is_one_head_lock_one_insert_of_records_one_of_chunk_rows_one_head_move(runtime, clock):
    statements: list[str] = []
    engine = runtime.sessions.kw["bind"]

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.split()[0].upper())

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with session_scope(runtime.sessions) as session:
            written = write_records(session, [record(n, clock.now()) for n in range(1, 6)])
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert [seq for seq, _ in written] == [1, 2, 3, 4, 5]
    work = [s for s in statements if s in ("SELECT", "INSERT", "UPDATE", "WITH")]
    assert work == (["SELECT", "WITH"] if PG_URL else ["SELECT", "INSERT", "INSERT", "UPDATE"])
    with session_scope(runtime.sessions) as session:
        rows = session.execute(select(Retrieval.seq, Retrieval.request_id, Retrieval.prev_hash, Retrieval.record_hash)
                               .order_by(Retrieval.seq)).all()
        chunks = session.scalar(select(RetrievalChunk.seq).where(RetrievalChunk.chunk_id == "old-3"))
    assert [r.request_id for r in rows] == [f"req-{n}" for n in range(1, 6)]
    assert [r.record_hash for r in rows] == [digest for _, digest in written]
    assert [r.prev_hash for r in rows[1:]] == [r.record_hash for r in rows[:-1]]
    assert chunks == 3
    assert verify_chain(runtime.sessions)["ok"] is True


def test_records_written_together_chain_on_from_one_written_alone(runtime, clock):
    with session_scope(runtime.sessions) as session:
        write_record(session, record(1, clock.now()))
    with session_scope(runtime.sessions) as session:
        write_records(session, [record(2, clock.now()), record(3, clock.now())])
    with session_scope(runtime.sessions) as session:
        write_record(session, record(4, clock.now()))

    result = verify_chain(runtime.sessions)
    assert result["ok"] is True and result["records_checked"] == 4


AWKWARD = 'a "quoted" \\ back\\slash, new\nline, tab\t, \x01 control, \u2028 separator, 😀 emoji, Rückerstattung'


def test_records_written_together_store_the_very_text_their_hash_covers(runtime, clock):
    """On PostgreSQL the rows travel as JSON to the one statement that appends them: what is stored is still
    the canonical text the hash was made over, escapes and all."""
    awkward = [msgspec.structs.replace(record(n, clock.now()), query=f"{AWKWARD} {n}") for n in (1, 2)]
    with session_scope(runtime.sessions) as session:
        written = write_records(session, awkward)
    with session_scope(runtime.sessions) as session:
        as_text = cast(Retrieval.content, Text) if PG_URL else Retrieval.content
        rows = session.execute(select(as_text, Retrieval.prev_hash, Retrieval.record_hash, Retrieval.served_at)
                               .order_by(Retrieval.seq)).all()
    assert [digest for _, _, digest, _ in rows] == [digest for _, digest in written]
    for (stored, prev, digest, served_at), given in zip(rows, awkward, strict=True):
        stored = stored if isinstance(stored, str) else canonical_json(stored)
        assert digest == chained_hash(prev, stored)
        assert json.loads(stored)["query"] == given.query
        assert served_at == given.served_at
    assert verify_chain(runtime.sessions)["ok"] is True
