"""What a RAG app sees: critical tasks never get stale context, others get it flagged."""

from __future__ import annotations

from tests.conftest import Api, publish, register

REFUND_V1 = "Refunds are accepted within 30 days of delivery. Sale items can be refunded too."
REFUND_V2 = "Refunds are accepted within 14 days of delivery. Sale items are final sale and cannot be refunded."


def _setup(admin: Api):
    register(admin, "refund-policy", "policy")
    return publish(admin, "refund-policy", [{"id": "refunds.md", "text": REFUND_V1}], version="v1")


def test_fresh_context_is_served_with_provenance(admin, keys):
    first = _setup(admin)
    reader = admin.as_key(keys.reader)
    response = reader.post("/v1/retrieve", json={"query": "can I get a refund", "task_class": "refund_decision"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["request_id"] and response.headers["x-request-id"] == body["request_id"]
    assert body["policy_version"].startswith("sha256:")
    [result] = body["results"]
    assert result["snapshot_id"] == first["snapshot"]["id"]
    assert result["snapshot_version"] == "v1"
    assert result["freshness"] == "fresh" and result["rank"] == 1
    assert result["content_hash"].startswith("sha256:")
    assert body["rejected"] == []


def test_stale_policy_is_rejected_for_refund_decision_and_flagged_for_general_question(admin, keys, clock):
    _setup(admin)
    clock.advance(days=8)  # policy max_age is 7d
    reader = admin.as_key(keys.reader)
    critical = reader.post("/v1/retrieve", json={"query": "refund", "task_class": "refund_decision"}).json()
    assert critical["status"] == "insufficient_context"
    assert critical["results"] == []
    [rejected] = critical["rejected"]
    assert rejected["reason"] == "stale" and rejected["max_age_seconds"] == 7 * 86400
    assert rejected["age_seconds"] == 8 * 86400
    general = reader.post("/v1/retrieve", json={"query": "refund", "task_class": "general_question"}).json()
    assert general["status"] == "flagged"
    assert [r["freshness"] for r in general["results"]] == ["stale"]

    # Publishing the new version fixes it.
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": REFUND_V2}], version="v2")
    fixed = reader.post("/v1/retrieve", json={"query": "refund", "task_class": "refund_decision"}).json()
    assert fixed["status"] == "ok"
    assert "14 days" in fixed["results"][0]["text"]


def test_warn_age_flags_without_rejecting(admin, keys, clock):
    _setup(admin)
    clock.advance(days=6)  # warn_age 5d < 6d < max_age 7d
    body = admin.as_key(keys.reader).post("/v1/retrieve",
                                          json={"query": "refund", "task_class": "refund_decision"}).json()
    assert body["status"] == "flagged"
    assert body["results"][0]["freshness"] == "warn"


def test_expired_content_is_rejected(admin, keys, clock):
    register(admin, "catalog", "catalog", owner="catalog-team")
    valid_until = (clock.now().replace(microsecond=0)).isoformat().replace("+00:00", "Z")
    publish(admin, "catalog", [{"id": "p", "text": "Aero 2 shoe costs 129 EUR"}], valid_until=valid_until)
    clock.advance(minutes=1)
    body = admin.as_key(keys.reader).post("/v1/retrieve",
                                          json={"query": "shoe price", "task_class": "refund_decision"}).json()
    assert body["rejected"][0]["reason"] == "expired"


def test_stale_chunks_do_not_shrink_the_answer_when_fresh_ones_exist_further_down(admin, keys, clock):
    register(admin, "old-policy", "policy")
    register(admin, "new-policy", "policy")
    publish(admin, "old-policy", [{"id": "a", "text": "refund refund refund window policy"}])
    clock.advance(days=8)
    publish(admin, "new-policy", [{"id": "b", "text": "refund window is 14 days"}])
    body = admin.as_key(keys.reader).post("/v1/retrieve", json={"query": "refund", "task_class": "refund_decision",
                                                                 "top_k": 1}).json()
    assert [r["source_id"] for r in body["results"]] == ["new-policy"]
    assert [r["source_id"] for r in body["rejected"]] == ["old-policy"]
    assert body["status"] == "ok"


def test_task_class_limits_source_classes(admin, keys):
    register(admin, "faq", "faq")
    publish(admin, "faq", [{"id": "f", "text": "refund questions answered here"}])
    body = admin.as_key(keys.reader).post("/v1/retrieve",
                                          json={"query": "refund", "task_class": "refund_decision"}).json()
    assert body["results"] == [] and body["status"] == "insufficient_context"


def test_unknown_task_class_is_422_listing_the_known_ones(admin, keys):
    response = admin.as_key(keys.reader).post("/v1/retrieve", json={"query": "x", "task_class": "nope"})
    assert response.status_code == 422
    assert "refund_decision" in response.json()["detail"]


def test_rollback_and_retire_are_honoured_by_the_next_retrieval(admin, keys):
    first = _setup(admin)
    second = publish(admin, "refund-policy", [{"id": "refunds.md", "text": REFUND_V2}], version="v2")
    reader = admin.as_key(keys.reader)
    ask = {"query": "refund days", "task_class": "general_question"}
    assert reader.post("/v1/retrieve", json=ask).json()["results"][0]["snapshot_id"] == second["snapshot"]["id"]
    admin.post(f"/v1/snapshots/{first['snapshot']['id']}/activate")
    assert reader.post("/v1/retrieve", json=ask).json()["results"][0]["snapshot_id"] == first["snapshot"]["id"]
    admin.delete("/v1/sources/refund-policy")
    assert reader.post("/v1/retrieve", json=ask).json()["results"] == []


def test_request_ids_from_header_or_body_and_reuse_is_409(admin, keys):
    _setup(admin)
    reader = admin.as_key(keys.reader)
    ask = {"query": "refund", "task_class": "general_question"}
    first = reader.post("/v1/retrieve", json=ask, headers={"X-Request-ID": "chat-1:turn-1"})
    assert first.json()["request_id"] == "chat-1:turn-1"
    assert reader.post("/v1/retrieve", json={**ask, "request_id": "chat-1:turn-1"}).status_code == 409
    mismatch = reader.post("/v1/retrieve", json={**ask, "request_id": "a"}, headers={"X-Request-ID": "b"})
    assert mismatch.status_code == 422
    assert reader.post("/v1/retrieve", json={**ask, "request_id": "bad id!"}).status_code == 422
    generated = [reader.post("/v1/retrieve", json=ask).json()["request_id"] for _ in range(3)]
    assert generated == sorted(generated)


def test_bad_retrieve_input(admin, keys):
    _setup(admin)
    reader = admin.as_key(keys.reader)
    ok = {"query": "refund", "task_class": "general_question"}
    for body in ({**ok, "query": "  "}, {**ok, "query": "x" * 5000}, {**ok, "top_k": 0}, {**ok, "top_k": 101},
                 {**ok, "vector": [0.1, 0.2]}, {**ok, "filters": {"owner": "x"}}, {**ok, "extra": 1}):
        response = reader.post("/v1/retrieve", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert admin.as_key(keys.auditor).post("/v1/retrieve", json=ok).status_code == 403
