"""A team generates a client from /schema/openapi.json: every sources and snapshots operation must say
what it takes, what it answers, that it needs a key, and which problems it can answer."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

PROBLEM_REF = "#/components/schemas/Problem"


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    answers: dict[str, str]  # success status -> the schema it answers with
    body: str | None = None
    problems: tuple[str, ...] = ("400", "401", "422", "503")


def ref(name: str) -> str:
    return f"#/components/schemas/{name}"


OPERATIONS = [
    Op("post", "/v1/sources", {"201": "SourceOut"}, body="SourceCreate",
       problems=("400", "401", "403", "409", "413", "422", "503")),
    Op("get", "/v1/sources", {"200": "SourcePage"}),
    Op("get", "/v1/sources/{source_id}", {"200": "SourceOut"}, problems=("400", "401", "404", "422", "503")),
    Op("patch", "/v1/sources/{source_id}", {"200": "SourceOut"}, body="SourceUpdate",
       problems=("400", "401", "403", "404", "409", "413", "422", "503")),
    Op("delete", "/v1/sources/{source_id}", {"200": "SourceOut"}, problems=("400", "401", "403", "404", "422", "503")),
    Op("post", "/v1/sources/{source_id}/snapshots", {"201": "PublishResult", "200": "PublishResult"},
       body="PublishRequest", problems=("400", "401", "403", "404", "409", "413", "422", "503")),
    Op("get", "/v1/sources/{source_id}/snapshots", {"200": "SnapshotPage"},
       problems=("400", "401", "404", "422", "503")),
    Op("post", "/v1/sources/{source_id}/verify", {"200": "SnapshotOut"},
       problems=("400", "401", "403", "404", "409", "422", "503")),
    Op("get", "/v1/snapshots/{snapshot_id}", {"200": "SnapshotDetail"}, problems=("400", "401", "404", "422", "503")),
    Op("post", "/v1/snapshots/{snapshot_id}/activate", {"200": "SnapshotOut"}, body="ActivateRequest",
       problems=("400", "401", "403", "404", "409", "413", "422", "503")),
    Op("get", "/v1/freshness", {"200": "FreshnessReport"}),
]


@pytest.fixture
def document(client) -> dict:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


def op_of(method: str, path: str) -> Op:
    return next(op for op in OPERATIONS if (op.method, op.path) == (method, path))


def operation(document: dict, op: Op) -> dict:
    return document["paths"][op.path][op.method]


def query(document: dict, op: Op) -> dict[str, dict]:
    return {p["name"]: p["schema"] for p in operation(document, op).get("parameters", []) if p["in"] == "query"}


@pytest.mark.parametrize("op", OPERATIONS, ids=[f"{o.method} {o.path}" for o in OPERATIONS])
def test_every_operation_says_what_it_takes_answers_and_refuses(document, op):
    described = operation(document, op)
    schemas = document["components"]["schemas"]

    assert described["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for status, name in op.answers.items():
        assert described["responses"][status]["content"]["application/json"]["schema"] == {"$ref": ref(name)}
        assert name in schemas
    if op.body is None:
        assert "requestBody" not in described
    else:
        assert described["requestBody"]["content"]["application/json"]["schema"] == {"$ref": ref(op.body)}
        assert op.body in schemas
    errors = {status: answer for status, answer in described["responses"].items() if status[0] in "45"}
    assert sorted(errors) == sorted(op.problems)
    for answer in errors.values():
        assert answer["content"] == {"application/problem+json": {"schema": {"$ref": PROBLEM_REF}}}


def test_list_parameters_carry_their_types_bounds_and_defaults(document):
    sources = query(document, op_of("get", "/v1/sources"))
    history = query(document, op_of("get", "/v1/sources/{source_id}/snapshots"))
    report = query(document, op_of("get", "/v1/freshness"))

    assert set(sources) == {"owner", "source_class", "include_retired", "limit", "cursor"}
    assert sources["limit"] == {"type": "integer", "minimum": 1, "maximum": 500, "default": 50,
                                "description": sources["limit"]["description"]}
    assert sources["include_retired"]["type"] == "boolean" and sources["include_retired"]["default"] is False
    assert sources["owner"]["minLength"] == 1
    assert set(history) == {"limit", "cursor"}
    assert (history["limit"]["minimum"], history["limit"]["maximum"]) == (1, 500)
    assert set(report) == {"status", "source_class", "owner", "limit", "cursor"}
    assert (report["limit"]["minimum"], report["limit"]["maximum"], report["limit"]["default"]) == (1, 1000, 100)
    assert [s for s in report["status"]["enum"] if s] == ["never_published", "expired", "stale", "failing", "warn",
                                                          "fresh"]


def test_activate_may_be_sent_without_a_body_and_the_others_may_not(document):
    bodies = {op.path: operation(document, op)["requestBody"] for op in OPERATIONS if op.body}

    assert bodies.pop("/v1/snapshots/{snapshot_id}/activate")["required"] is False
    assert all(body["required"] is True for body in bodies.values())


def test_wire_shapes_name_their_statuses_and_pages(document):
    schemas = document["components"]["schemas"]

    assert "retired" in schemas["FreshnessOut"]["properties"]["status"]["enum"]
    assert "retired" not in schemas["SourceFreshness"]["properties"]["status"]["enum"]
    assert schemas["SourcePage"]["properties"]["items"]["items"] == {"$ref": ref("SourceOut")}
    assert schemas["SnapshotPage"]["properties"]["items"]["items"] == {"$ref": ref("SnapshotOut")}
    assert schemas["FreshnessReport"]["properties"]["items"]["items"] == {"$ref": ref("SourceFreshness")}
    assert {"source_class", "title", "uri", "tags", "metadata", "refresh_interval"} <= set(
        schemas["SourceUpdate"]["properties"])
