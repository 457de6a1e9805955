"""What a client generated from /schema/openapi.json learns about the audit operations: every query
parameter with its type, enum and bounds; a named schema for every answer; the exports' media types;
the bearer key; and each refusal as a problem document."""

from __future__ import annotations

import pytest

PROBLEM = "application/problem+json"
# operation: (the 200's schema, the statuses it may refuse with)
OPERATIONS = {
    "/v1/audit/retrievals/{request_id}": ("AuditRecord", {401, 403, 404, 409, 422, 503}),
    "/v1/audit/retrievals": ("AuditPage", {401, 403, 422, 503}),
    "/v1/audit/verify": ("ChainReport", {401, 403, 422, 503}),
    "/v1/audit/checkpoint": ("Checkpoint", {401, 403, 409, 503}),
    "/v1/audit/public-key": ("PublicKey", {401, 503}),
}


@pytest.fixture
def document(client) -> dict:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    return response.json()


def parameters(document: dict, path: str) -> dict[str, dict]:
    return {p["name"]: p for p in document["paths"][path]["get"].get("parameters", [])}


def branches(schema: dict) -> list[dict]:
    """The schema itself and, for an optional parameter, each branch of its oneOf."""
    return [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]


def enum_of(schema: dict) -> set:
    return {v for s in branches(schema) for v in s.get("enum", []) if v is not None}


def types_of(schema: dict) -> set[str]:
    found: set[str] = set()
    for s in branches(schema):
        kind = s.get("type")
        found |= set(kind) if isinstance(kind, list) else {kind} if kind else set()
    return found - {"null"}


@pytest.mark.parametrize("path", OPERATIONS)
def test_every_audit_operation_needs_the_bearer_key(document, path):
    assert document["paths"][path]["get"]["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


@pytest.mark.parametrize("path", OPERATIONS)
def test_every_audit_answer_has_a_named_schema(document, path):
    name, _ = OPERATIONS[path]

    ok = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]

    assert ok["schema"] == {"$ref": f"#/components/schemas/{name}"}
    assert document["components"]["schemas"][name]["properties"]


@pytest.mark.parametrize("path", OPERATIONS)
def test_every_refusal_is_listed_as_a_problem_document(document, path):
    _, statuses = OPERATIONS[path]
    responses = document["paths"][path]["get"]["responses"]

    refusals = {int(status) for status in responses if int(status) >= 400}

    assert refusals == statuses  # and no 400: a bad query parameter is a 422
    for status in refusals:
        assert responses[str(status)]["content"] == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def test_the_search_filters_are_typed(document):
    query = parameters(document, "/v1/audit/retrievals")

    assert set(query) == {"snapshot_id", "source_id", "task_class", "status", "since", "until", "limit", "cursor",
                          "format"}
    assert all(p["in"] == "query" and not p["required"] and p.get("description") for p in query.values())
    assert enum_of(query["status"]["schema"]) == {"ok", "flagged", "insufficient_context"}
    assert enum_of(query["format"]["schema"]) == {"json", "jsonl", "csv"}
    for moment in ("since", "until"):
        assert {s.get("format") for s in branches(query[moment]["schema"])} >= {"date-time"}
    assert types_of(query["limit"]["schema"]) == {"integer"}
    assert (query["limit"]["schema"]["minimum"], query["limit"]["schema"]["maximum"]) == (1, 10_000)
    for name in ("snapshot_id", "source_id", "task_class"):
        assert types_of(query[name]["schema"]) == {"string"} and query[name]["schema"]["minLength"] == 1


def test_the_search_also_exports_jsonl_and_csv_with_the_cursor_in_a_header(document):
    ok = document["paths"]["/v1/audit/retrievals"]["get"]["responses"]["200"]

    assert set(ok["content"]) == {"application/json", "application/x-ndjson", "text/csv"}
    assert ok["content"]["application/x-ndjson"]["schema"]["type"] == "string"
    assert "X-Next-Cursor" in ok["headers"]


def test_verify_takes_a_checkpoint_field_by_field(document):
    query = parameters(document, "/v1/audit/verify")

    assert set(query) == {"seq", "record_hash", "signed_at", "key_id", "signature"}
    assert types_of(query["seq"]["schema"]) == {"integer"} and query["seq"]["schema"]["minimum"] == 0
    assert all(types_of(query[n]["schema"]) == {"string"} for n in ("record_hash", "signed_at", "key_id", "signature"))


def test_the_audit_record_schema_holds_the_whole_provenance(document):
    schemas = document["components"]["schemas"]
    record = schemas["AuditRecord"]

    assert set(record["required"]) >= {
        "request_id", "served_at", "status", "task_class", "criticality", "policy_version", "principal", "query",
        "query_sha256", "filters", "top_k", "latency_ms", "results", "rejected", "snapshot_ids", "prev_hash",
        "record_hash",
    }
    assert record["properties"]["results"]["items"] == {"$ref": "#/components/schemas/AuditServedChunk"}
    served = schemas["AuditServedChunk"]["properties"]
    assert served["snapshot"] == {"$ref": "#/components/schemas/AuditChunkSnapshot"}
    assert {"state_now", "version", "captured_at", "content_hash"} <= set(schemas["AuditChunkSnapshot"]["properties"])
    assert {"title", "owner", "uri", "source_class"} <= set(schemas["AuditSource"]["properties"])
    assert enum_of(schemas["AuditSummary"]["properties"]["status"]) == {"ok", "flagged", "insufficient_context"}
    assert set(schemas["ChainReport"]["required"]) == {"ok", "records_checked", "first_bad"}
