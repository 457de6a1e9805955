"""What an auditor sees: every answer by request id, every answer a snapshot touched, a chain that
shows tampering, and no answer without its record."""

from __future__ import annotations

import csv
import io
import json

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from freshness.app import create_app
from freshness.db import make_engine
from tests.conftest import Api, publish, register


@pytest.fixture
def auditor(client, keys) -> Api:
    return Api(client, keys.auditor)


@pytest.fixture
def reader(client, keys) -> Api:
    return Api(client, keys.reader)


def _corpus(admin: Api) -> tuple[str, str]:
    register(admin, "refund-policy", "policy")
    v1 = publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days."}], version="v1")
    register(admin, "faq", "faq")
    faq = publish(admin, "faq", [{"id": "ship", "text": "Refunds are shipped back within 5 days."}])
    return v1["snapshot"]["id"], faq["snapshot"]["id"]


def test_lookup_by_request_id_shows_what_was_served_then(admin, reader, auditor, clock):
    v1, _ = _corpus(admin)
    served = reader.post("/v1/retrieve", json={"query": "refund", "task_class": "refund_decision"},
                         headers={"X-Request-ID": "ticket-42"}).json()
    clock.advance(days=3)
    admin.post("/v1/sources/refund-policy/verify")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 14 days."}], version="v2")
    record = auditor.get("/v1/audit/retrievals/ticket-42")
    assert record.status_code == 200, record.text
    body = record.json()
    assert body["status"] == served["status"] and body["task_class"] == "refund_decision"
    assert body["criticality"] == "critical"
    assert body["query"] == "refund" and body["query_sha256"].startswith("sha256:")
    assert body["principal"]["name"] == "assistant"
    # As served, plus the max age each chunk was judged against and its provenance.
    assert body["results"] == [
        {**r, "max_age_seconds": 7 * 86_400, "source": body["results"][i]["source"],
         "snapshot": body["results"][i]["snapshot"]}
        for i, r in enumerate(served["results"])
    ]
    first = body["results"][0]
    assert first["age_seconds"] == 0  # as served, not as of today
    assert first["snapshot"]["state_now"] == "superseded"
    assert first["snapshot"]["version"] == "v1"
    assert first["source"]["owner"] == "support"
    assert body["record_hash"].startswith("sha256:") and body["prev_hash"].startswith("sha256:")
    assert v1 in body["snapshot_ids"]


def test_every_request_that_touched_a_snapshot_is_one_call(admin, reader, auditor):
    v1, faq = _corpus(admin)
    for i in range(3):
        reader.post("/v1/retrieve", json={"query": "refund", "task_class": "refund_decision",
                                          "request_id": f"policy-{i}"})
    reader.post("/v1/retrieve", json={"query": "shipped", "task_class": "order_status", "request_id": "faq-only"})
    listed = auditor.get("/v1/audit/retrievals", params={"snapshot_id": v1}).json()
    assert sorted(i["request_id"] for i in listed["items"]) == ["policy-0", "policy-1", "policy-2"]
    by_source = auditor.get("/v1/audit/retrievals", params={"source_id": "faq"}).json()
    assert "faq-only" in [i["request_id"] for i in by_source["items"]]
    page = auditor.get("/v1/audit/retrievals", params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = auditor.get("/v1/audit/retrievals", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert {i["request_id"] for i in rest["items"]}.isdisjoint({i["request_id"] for i in page["items"]})
    jsonl = auditor.get("/v1/audit/retrievals", params={"snapshot_id": v1, "format": "jsonl"})
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert len(lines) == 3 and all("record_hash" in line for line in lines)
    rows = list(csv.DictReader(io.StringIO(
        auditor.get("/v1/audit/retrievals", params={"snapshot_id": v1, "format": "csv"}).text)))
    assert len(rows) == 3 and v1 in rows[0]["snapshot_ids"]


def test_bad_audit_queries(admin, reader, auditor):
    _corpus(admin)
    assert auditor.get("/v1/audit/retrievals", params={"since": "2026-02-01T00:00:00Z",
                                                        "until": "2026-01-01T00:00:00Z"}).status_code == 422
    assert auditor.get("/v1/audit/retrievals", params={"cursor": "abc.def"}).status_code == 422
    assert auditor.get("/v1/audit/retrievals", params={"colour": "red"}).status_code == 422
    assert auditor.get("/v1/audit/retrievals/nope").status_code == 404
    assert reader.get("/v1/audit/retrievals").status_code == 403
    assert reader.get("/v1/audit/verify").status_code == 403


def test_chain_detects_an_edited_and_a_deleted_record(admin, reader, auditor, settings):
    _corpus(admin)
    for i in range(4):
        reader.post("/v1/retrieve", json={"query": "refund", "task_class": "general_question", "request_id": f"r{i}"})
    assert auditor.get("/v1/audit/verify").json() == {"ok": True, "records_checked": 4, "first_bad": None}
    engine = make_engine(settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE retrievals SET status = 'ok', content = :c WHERE request_id = 'r1'"),
                     {"c": json.dumps({"request_id": "r1", "status": "ok"})})
    edited = auditor.get("/v1/audit/verify").json()
    assert edited["ok"] is False and edited["first_bad"]["request_id"] == "r1"
    assert edited["records_checked"] == 1
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM retrieval_chunks WHERE request_id IN ('r1', 'r2')"))
        conn.execute(text("DELETE FROM retrievals WHERE request_id IN ('r1', 'r2')"))
    deleted = auditor.get("/v1/audit/verify").json()
    assert deleted["ok"] is False and deleted["first_bad"]["request_id"] == "r3"
    assert "missing" in deleted["first_bad"]["problem"]
    engine.dispose()


def test_no_answer_leaves_without_its_audit_record(admin, reader, auditor, settings):
    _corpus(admin)
    engine = make_engine(settings.resolved_database_url)
    with engine.begin() as conn:  # the database refuses every audit write from now on
        if engine.dialect.name == "sqlite":
            conn.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON retrievals "
                              "BEGIN SELECT RAISE(ABORT, 'audit disk full'); END"))
        else:
            conn.execute(text("CREATE OR REPLACE FUNCTION refuse() RETURNS trigger AS $$ "
                              "BEGIN RAISE EXCEPTION 'audit disk full'; END $$ LANGUAGE plpgsql"))
            conn.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON retrievals FOR EACH ROW"
                              " EXECUTE FUNCTION refuse()"))
    try:
        response = reader.post("/v1/retrieve", json={"query": "refund", "task_class": "general_question",
                                                     "request_id": "doomed"})
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER refuse" + ("" if engine.dialect.name == "sqlite" else " ON retrievals")))
        engine.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "results" not in response.json() and "30 days" not in response.text
    assert auditor.get("/v1/audit/retrievals/doomed").status_code == 404
    assert auditor.get("/v1/audit/verify").json()["ok"] is True


def test_query_text_can_be_kept_only_as_a_hash(settings, clock, keys):
    from dataclasses import replace

    app = create_app(replace(settings, hash_query_text=True), clock=clock)
    with TestClient(app=app) as client:
        admin = Api(client, keys.admin)
        _corpus(admin)
        Api(client, keys.reader).post("/v1/retrieve", json={"query": "my secret refund", "task_class":
                                                            "general_question", "request_id": "h1"})
        record = Api(client, keys.auditor).get("/v1/audit/retrievals/h1").json()
    assert record["query"] is None and record["query_sha256"].startswith("sha256:")
    assert "my secret refund" not in json.dumps(record)


def test_a_second_instance_sees_publish_rollback_and_retire_at_once(settings, clock, keys):
    from freshness.vectorstore.server import ServerStore

    store = ServerStore.connect("local::memory:", None, "shared")
    shared = replace_store(settings)
    app_a = create_app(shared, clock=clock, store=store)
    app_b = create_app(shared, clock=clock, store=_Unclosable(store))
    with TestClient(app=app_a) as a, TestClient(app=app_b) as b:
        admin_a, reader_b = Api(a, keys.admin), Api(b, keys.reader)
        register(admin_a, "refund-policy", "policy")
        v1 = publish(admin_a, "refund-policy", [{"id": "r", "text": "Refunds within 30 days."}], version="v1")
        ask = {"query": "refunds", "task_class": "refund_decision"}
        assert reader_b.post("/v1/retrieve", json=ask).json()["results"][0]["snapshot_id"] == v1["snapshot"]["id"]
        v2 = publish(admin_a, "refund-policy", [{"id": "r", "text": "Refunds within 14 days."}], version="v2")
        assert reader_b.post("/v1/retrieve", json=ask).json()["results"][0]["snapshot_id"] == v2["snapshot"]["id"]
        admin_a.post(f"/v1/snapshots/{v1['snapshot']['id']}/activate")
        assert reader_b.post("/v1/retrieve", json=ask).json()["results"][0]["snapshot_id"] == v1["snapshot"]["id"]
        admin_a.delete("/v1/sources/refund-policy")
        assert reader_b.post("/v1/retrieve", json=ask).json()["results"] == []
        assert Api(a, keys.auditor).get("/v1/audit/verify").json()["records_checked"] == 4


def replace_store(settings):
    from dataclasses import replace

    return replace(settings, vector_store="local::memory:")


class _Unclosable:
    """The second instance shares the first one's store client and must not close it."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def close(self) -> None:
        pass


def test_reverse_lookup_pages_through_the_newest_first_with_other_filters(admin, reader, auditor, monkeypatch):
    """Read from the chunk index backwards a few seqs at a time, and still find every match in order."""
    from freshness.audit import service

    monkeypatch.setattr(service, "TOUCH_PAGE", 1)
    v1, _ = _corpus(admin)
    expected = []
    for i in range(9):
        task = "refund_decision" if i % 3 else "general_question"
        reader.post("/v1/retrieve", json={"query": "refund", "task_class": task, "request_id": f"r-{i}"})
        reader.post("/v1/retrieve", json={"query": "shipped", "task_class": "order_status", "request_id": f"o-{i}"})
        if task == "refund_decision":
            expected.append(f"r-{i}")
    seen, cursor = [], None
    while True:
        params = {"snapshot_id": v1, "task_class": "refund_decision", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = auditor.get("/v1/audit/retrievals", params=params).json()
        seen += [i["request_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(expected))
