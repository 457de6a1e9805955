"""An auditor compares a record written today with one written a year ago: both hold the same keys,
hashed the same way, whatever changed in how the answer is made. The content is what the response
held, plus the max age each served chunk was judged against and the provenance of every source and
snapshot named."""

from __future__ import annotations

from sqlalchemy import select

from freshness.audit.chain import record_hash
from freshness.db import make_engine, make_session_factory, session_scope
from freshness.models import Retrieval
from tests.conftest import publish, register

TOP = {"request_id", "served_at", "status", "task_class", "criticality", "policy_version", "principal", "query",
       "query_sha256", "filters", "top_k", "vector_given", "latency_ms", "results", "rejected", "sources",
       "snapshots"}
RESULT = {"rank", "chunk_id", "text", "score", "source_id", "source_class", "snapshot_id", "snapshot_version",
          "document_id", "uri", "captured_at", "verified_at", "age_seconds", "freshness", "content_hash",
          "max_age_seconds"}
REJECTED = {"chunk_id", "source_id", "snapshot_id", "reason", "age_seconds", "max_age_seconds"}


def stored(settings, request_id: str) -> Retrieval:
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            row = session.scalar(select(Retrieval).where(Retrieval.request_id == request_id))
            session.expunge(row)
            return row
    finally:
        engine.dispose()


def test_a_record_holds_the_answer_as_served_in_the_shape_every_record_was_hashed_in(admin, keys, clock, settings):
    register(admin, "old-refunds", "policy", uri="https://owner:secret@example.com/refunds")
    publish(admin, "old-refunds", [{"id": "a.md", "text": "refund refund refund within 30 days"}], version="v1")
    clock.advance(days=8)
    register(admin, "new-refunds", "policy")
    publish(admin, "new-refunds", [{"id": "b.md", "text": "refund within 14 days"}])
    answer = admin.as_key(keys.reader).post("/v1/retrieve", json={
        "query": "refund", "task_class": "refund_decision", "top_k": 1, "request_id": "ticket-9",
        "filters": {"tags": []}}).json()
    assert [r["source_id"] for r in answer["results"]] == ["new-refunds"]
    assert [r["source_id"] for r in answer["rejected"]] == ["old-refunds"]

    record = stored(settings, "ticket-9")
    content = record.content

    assert set(content) == TOP
    assert [set(r) for r in content["results"]] == [RESULT]
    assert [set(r) for r in content["rejected"]] == [REJECTED]
    assert content["results"] == [{**r, "max_age_seconds": 7 * 86_400} for r in answer["results"]]
    assert content["rejected"] == answer["rejected"]
    assert content["filters"] == {"source_ids": [], "source_classes": [], "tags": []}
    assert content["principal"]["role"] == "reader" and content["query"] == "refund"
    assert content["sources"]["old-refunds"] == {"title": "Old Refunds", "owner": "support",
                                                 "uri": "https://***@example.com/refunds", "source_class": "policy"}
    assert set(content["snapshots"]) == {answer["results"][0]["snapshot_id"], answer["rejected"][0]["snapshot_id"]}
    assert content["snapshots"][answer["rejected"][0]["snapshot_id"]]["version"] == "v1"
    assert record.record_hash == record_hash(record.prev_hash, content)
