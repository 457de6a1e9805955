"""A RAG app ties each retrieval to its own ticket through the request id: sent as the X-Request-ID
header or in the body, answered in the header and the body, and described in the OpenAPI document so a
generated client knows the header, the body and the answer."""

from __future__ import annotations

import pytest

from tests.conftest import publish, register

ASK = {"query": "refund", "task_class": "general_question"}


@pytest.fixture
def reader(admin, keys):
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])
    return admin.as_key(keys.reader)


def test_the_same_id_in_header_and_body_is_the_answer_s_id(reader, admin, keys):
    response = reader.post("/v1/retrieve", json={**ASK, "request_id": "chat-7:turn-2"},
                           headers={"X-Request-ID": "chat-7:turn-2"})
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == response.json()["request_id"] == "chat-7:turn-2"
    assert admin.as_key(keys.auditor).get("/v1/audit/retrievals/chat-7:turn-2").status_code == 200


@pytest.mark.parametrize("header", ["", "ticket 42", "x" * 129, "ticket/42"])
def test_a_malformed_header_is_a_422_that_names_the_header_and_records_nothing(reader, admin, keys, header):
    response = reader.post("/v1/retrieve", json=ASK, headers={"X-Request-ID": header})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["field"] == "X-Request-ID"
    assert "1-128 characters of A-Za-z0-9._:-" in problem["detail"] and "^" not in problem["detail"]
    assert admin.as_key(keys.auditor).get("/v1/audit/retrievals").json()["items"] == []


def test_a_caller_without_a_key_learns_that_before_anything_about_its_request_id(reader):
    anonymous = reader.as_key(None)
    response = anonymous.post("/v1/retrieve", json={**ASK, "request_id": "a"}, headers={"X-Request-ID": "b c"})
    assert response.status_code == 401


def test_the_document_describes_the_request_id_header_the_body_and_the_answer(client):
    document = client.get("/schema/openapi.json").json()
    operation = document["paths"]["/v1/retrieve"]["post"]
    [header] = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "X-Request-ID" and header["required"] is False
    assert header["schema"]["type"] == "string" and header["schema"]["pattern"] == r"^[A-Za-z0-9._:-]{1,128}$"
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RetrieveRequest"}
    ok = operation["responses"]["200"]
    assert "X-Request-ID" in ok["headers"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RetrieveResponse"}
    for status in ("401", "403", "409", "413", "422", "503"):
        assert "application/problem+json" in operation["responses"][status]["content"], status
    schemas = document["components"]["schemas"]
    assert set(schemas["RetrieveResponse"]["properties"]["status"]["enum"]) == {
        "ok", "flagged", "insufficient_context"}
    rejected = schemas["Rejected"]["properties"]
    assert set(rejected) >= {"chunk_id", "source_id", "snapshot_id", "reason", "age_seconds", "max_age_seconds"}
    assert schemas["RetrieveRequest"]["properties"]["top_k"]["maximum"] == 100
