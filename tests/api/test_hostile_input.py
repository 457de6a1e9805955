"""Input that no backend can store is refused with a 422 naming the field, on SQLite and PostgreSQL alike.

A publisher's script pastes a NUL character into a title, a RAG app passes one in a filter, a
prober puts one in a URL; someone sends metadata nested a thousand levels deep, or a filter of
100,000 source ids. PostgreSQL cannot hold a NUL in text nor bind more than 65,535 parameters, and
the JSON decoder gives up on deep nesting: none of it may become a 500, nor a 503 that blames an outage.
Each is an RFC 9457 problem whose `field` names what to fix, and nothing stored changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from freshness.retrieval.schemas import MAX_FILTER_VALUES
from freshness.wire import MAX_DEPTH, MAX_METADATA_BYTES
from tests.conftest import Api, publish, register

SOURCE = {"id": "returns-policy", "title": "Returns", "owner": "support", "source_class": "policy"}
SNAPSHOTS = "/v1/sources/refund-policy/snapshots"


@dataclass(frozen=True)
class Hostile:
    name: str
    method: str
    path: str
    field: str
    body: dict | None = None


def doc(**fields) -> dict:
    return {"id": "refunds.md", "text": "Refunds within 30 days.", **fields}


def asking(**fields) -> dict:
    return {"query": "how long do refunds take", "task_class": "general_question", **fields}


NUL_CASES = [
    # -- in a body
    Hostile("source title", "POST", "/v1/sources", "title", {**SOURCE, "title": "Ret\x00urns"}),
    Hostile("source tag", "POST", "/v1/sources", "tags[0]", {**SOURCE, "tags": ["ref\x00unds"]}),
    Hostile("source metadata value", "POST", "/v1/sources", "metadata.team", {**SOURCE, "metadata": {"team": "\x00"}}),
    Hostile("source metadata key", "POST", "/v1/sources", "metadata", {**SOURCE, "metadata": {"te\x00am": 1}}),
    Hostile("patched title", "PATCH", "/v1/sources/refund-policy", "title", {"title": "Refunds\x00"}),
    Hostile("publish version", "POST", SNAPSHOTS, "version", {"documents": [doc()], "version": "v\x002"}),
    Hostile("document id", "POST", SNAPSHOTS, "documents[0].id", {"documents": [doc(id="refunds\x00.md")]}),
    Hostile("document title", "POST", SNAPSHOTS, "documents[0].title", {"documents": [doc(title="Re\x00funds")]}),
    Hostile("document text", "POST", SNAPSHOTS, "documents[1].text",
            {"documents": [doc(), doc(id="returns.md", text="Returns \x00 within 14 days.")]}),
    Hostile("document chunk", "POST", SNAPSHOTS, "documents[0].chunks[1]",
            {"documents": [{"id": "refunds.md", "chunks": ["Refunds.", "Within \x00 30 days."]}]}),
    Hostile("retrieve query", "POST", "/v1/retrieve", "query", asking(query="refunds\x00")),
    Hostile("retrieve source filter", "POST", "/v1/retrieve", "filters.source_ids[0]",
            asking(filters={"source_ids": ["refund-policy\x00"]})),
    Hostile("retrieve tag filter", "POST", "/v1/retrieve", "filters.tags[0]", asking(filters={"tags": ["\x00"]})),
    Hostile("activate source id", "POST", "/v1/snapshots/{old}/activate", "source_id", {"source_id": "a\x00"}),
    # -- in a path parameter
    Hostile("source path", "GET", "/v1/sources/fz%00x", "source_id"),
    Hostile("patched source path", "PATCH", "/v1/sources/fz%00x", "source_id", {"title": "Refunds"}),
    Hostile("retired source path", "DELETE", "/v1/sources/fz%00x", "source_id"),
    Hostile("publish path", "POST", "/v1/sources/fz%00x/snapshots", "source_id", {"documents": [doc()]}),
    Hostile("history path", "GET", "/v1/sources/fz%00x/snapshots", "source_id"),
    Hostile("verify path", "POST", "/v1/sources/fz%00x/verify", "source_id"),
    Hostile("snapshot path", "GET", "/v1/snapshots/a%00b", "snapshot_id"),
    Hostile("activate path", "POST", "/v1/snapshots/a%00b/activate", "snapshot_id"),
    Hostile("audit record path", "GET", "/v1/audit/retrievals/a%00b", "request_id"),
    # -- in a query parameter
    Hostile("source owner filter", "GET", "/v1/sources?owner=a%00", "owner"),
    Hostile("source class filter", "GET", "/v1/sources?source_class=%00policy", "source_class"),
    Hostile("source list cursor", "GET", "/v1/sources?cursor=%00", "cursor"),
    Hostile("audit source filter", "GET", "/v1/audit/retrievals?source_id=refund%00policy", "source_id"),
    Hostile("audit snapshot filter", "GET", "/v1/audit/retrievals?snapshot_id=snap%00", "snapshot_id"),
    Hostile("audit task filter", "GET", "/v1/audit/retrievals?task_class=general%00", "task_class"),
    Hostile("audit status filter", "GET", "/v1/audit/retrievals?status=ok%00", "status"),
    Hostile("audit since filter", "GET", "/v1/audit/retrievals?since=2026-01-01%00", "since"),
    Hostile("freshness owner filter", "GET", "/v1/freshness?owner=%00", "owner"),
    Hostile("a parameter the endpoint does not read", "GET", "/v1/policy?note=%00", "note"),
    Hostile("a parameter name", "GET", "/v1/sources?own%00er=support", "owner"),
]


@pytest.fixture
def world(support, keys, clock) -> dict:
    """The support team's refund policy in two editions, and one audited retrieval."""
    register(support, "refund-policy", tags=["refunds"])
    old = publish(support, "refund-policy", [doc()])
    clock.advance(hours=1)
    publish(support, "refund-policy", [doc(text="Refunds within 60 days.")])
    answered = support.as_key(keys.reader).post("/v1/retrieve", json=asking(request_id="req-1"))
    assert answered.status_code == 200, answered.text
    return {"old": old["snapshot"]["id"]}


def stored(admin: Api) -> list:
    """Everything a request could have changed: sources, their snapshot histories, the audit log, the store."""
    sources = admin.get("/v1/sources", params={"include_retired": "true"}).json()["items"]
    audit = admin.get("/v1/audit/retrievals").json()["items"]
    histories = [(s, admin.get(f"/v1/sources/{s['id']}/snapshots").json()["items"]) for s in sources]
    return [histories, audit, admin.client.app.state.runtime.store.count()]


def assert_refused(response, field: str) -> dict:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/invalid-input")
    assert problem["field"] == field, problem
    assert field in problem["detail"]
    return problem


def send(api: Api, method: str, path: str, body: dict | None):
    return api.client.request(method, path, json=body, headers={"Authorization": f"Bearer {api.key}"})


@pytest.mark.parametrize("case", NUL_CASES, ids=[c.name for c in NUL_CASES])
def test_a_nul_character_anywhere_is_a_422_naming_the_field(admin, world, case):
    before = stored(admin)

    response = send(admin, case.method, case.path.format(**world), case.body)

    problem = assert_refused(response, case.field)
    assert "NUL" in problem["detail"]
    assert stored(admin) == before


# -- filter lists -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["source_ids", "source_classes", "tags"])
def test_a_filter_of_100000_values_is_a_422_not_an_outage(admin, world, name):
    before = stored(admin)

    response = admin.post("/v1/retrieve", json=asking(filters={name: ["refund-policy"] * 100_000}))

    problem = assert_refused(response, f"filters.{name}")
    assert str(MAX_FILTER_VALUES) in problem["detail"]
    assert stored(admin) == before


def test_a_filter_of_the_most_values_allowed_is_answered(admin, world):
    source_ids = ["refund-policy"] + [f"other-{n}" for n in range(MAX_FILTER_VALUES - 1)]

    response = admin.post("/v1/retrieve", json=asking(filters={"source_ids": source_ids}))

    assert response.status_code == 200, response.text
    assert {r["source_id"] for r in response.json()["results"]} == {"refund-policy"}


# -- metadata: depth and size -----------------------------------------------------------------------------


def nested(depth: int) -> str:
    """JSON text of objects nested `depth` levels deep, built as text: json.dumps itself would give up."""
    return '{"a":' * depth + "1" + "}" * depth


def raw_post(api: Api, path: str, text: str, method: str = "POST"):
    return api.client.request(method, path, content=text.encode(),
                              headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"})


DEEP_BODIES = {
    "source metadata": ("POST", "/v1/sources", "metadata",
                        '{"id": "returns-policy", "title": "Returns", "owner": "support", "source_class": "policy", '
                        '"metadata": %s}'),
    "patched metadata": ("PATCH", "/v1/sources/refund-policy", "metadata", '{"metadata": %s}'),
    "document metadata": ("POST", SNAPSHOTS, "documents[1].metadata",
                          '{"documents": [{"id": "a.md", "text": "A."}, '
                          '{"id": "b.md", "text": "B.", "metadata": %s}]}'),
}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 100_000])
@pytest.mark.parametrize("where", DEEP_BODIES, ids=list(DEEP_BODIES))
def test_metadata_nested_too_deep_is_a_422(admin, support, world, where, depth):
    method, path, field, template = DEEP_BODIES[where]
    before = stored(admin)

    response = raw_post(support, path, template % nested(depth), method)

    problem = assert_refused(response, field)
    assert str(MAX_DEPTH) in problem["detail"]
    assert stored(admin) == before


def test_metadata_nested_deep_inside_arrays_is_a_422(support, world):
    response = raw_post(support, "/v1/sources/refund-policy", '{"metadata": {"x": %s}}' % ("[" * 5000 + "]" * 5000),
                        "PATCH")

    assert_refused(response, "metadata")


def test_metadata_nested_as_deep_as_allowed_is_kept(support, world):
    response = raw_post(support, "/v1/sources/refund-policy", f'{{"metadata": {nested(MAX_DEPTH)}}}', "PATCH")

    assert response.status_code == 200, response.text
    kept = response.json()["metadata"]
    for _ in range(MAX_DEPTH - 1):
        kept = kept["a"]
    assert kept == {"a": 1}


def test_metadata_over_the_size_limit_is_a_422(admin, support, world):
    before = stored(admin)
    metadata = {"notes": "x" * MAX_METADATA_BYTES}

    response = support.post(SNAPSHOTS, json={"documents": [doc(metadata=metadata)]})

    problem = assert_refused(response, "documents[0].metadata")
    assert str(MAX_METADATA_BYTES) in problem["detail"]
    assert stored(admin) == before
