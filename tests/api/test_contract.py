"""Every operation of the OpenAPI document, fuzzed in process: the service keeps the contract it publishes.

Schemathesis generates valid and invalid requests for each operation from /schema/openapi.json and
sends each one with the key of every role, then once with no key. Whatever the caller sends, the
answer is never a server error, its status is one the document lists for the operation, its media
type is the one listed, and its body matches the listed schema.

FRESHNESS_FUZZ_EXAMPLES sets the examples per operation (`make fuzz` raises it). Generation is
derandomized, so a failure seen once is seen on every run, unless FRESHNESS_FUZZ_RANDOM=1 (`make fuzz`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Api, Keys, publish, register

EXAMPLES = int(os.environ.get("FRESHNESS_FUZZ_EXAMPLES", "10"))
RANDOM = os.environ.get("FRESHNESS_FUZZ_RANDOM") == "1"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

@dataclass(frozen=True)
class Seeded:
    """Real names and ids, by the parameter or field that takes them."""

    real: dict[str, list[str]]
    retiring: list[str]  # sources of their own for DELETE, so the ones above keep serving


def lifespan_run_by_the_test_client(app):
    """The app as schemathesis calls it. The `client` fixture already runs the lifespan; a second one
    would open a second runtime on the same database and store, so the lifespan scope is declined."""

    async def asgi(scope, receive, send):
        if scope["type"] == "lifespan":
            return
        await app(scope, receive, send)

    return asgi


@pytest.fixture
def seeded(client, keys: Keys) -> Seeded:
    """A source per owner with a published snapshot, and one retrieval in the audit log."""
    admin = Api(client, keys.admin)
    policy = admin.get("/v1/policy").json()
    sources, snapshots = [], []
    for owner, source_class in (("support", "policy"), ("catalog-team", "catalog")):
        source_id = f"{owner}-handbook"
        register(admin, source_id, source_class, owner=owner, tags=["handbook"])
        published = publish(admin, source_id, [{"id": "returns.md", "text": f"# {owner}\n\nReturns within 30 days."}],
                            version="v1")
        sources.append(source_id)
        snapshots.append(published["snapshot"]["id"])
    retiring = []
    for owner in ("support", "catalog-team"):
        register(admin, f"{owner}-retiring", "faq", owner=owner)
        retiring.append(f"{owner}-retiring")
    answer = Api(client, keys.reader).post("/v1/retrieve", json={"query": "returns", "task_class": "general_question"})
    assert answer.status_code == 200, answer.text
    real = {
        "source_id": sources, "snapshot_id": snapshots, "request_id": [answer.json()["request_id"]],
        "owner": ["support", "catalog-team"], "source_class": sorted(policy["source_classes"]),
        "task_class": sorted(policy["task_classes"]),
    }
    return Seeded(real=real, retiring=retiring)


@pytest.fixture
def api_schema(request, client, seeded):
    if not hasattr(request.node, "_nodeid"):
        # schemathesis 4.32 labels each operation's subtest through `_nodeid`, which pytest 9.2 dropped.
        request.node._nodeid = request.node.nodeid
    return schemathesis.openapi.from_asgi("/schema/openapi.json", lifespan_run_by_the_test_client(client.app))


schema = schemathesis.pytest.from_fixture("api_schema")


def _coin(value) -> bytes:
    # Derived from the generated value, so a derandomized run makes the same choices every time.
    return hashlib.sha256(repr(value).encode()).digest()


def _point_at_real_things(case, seeded: Seeded) -> None:
    """Half of the valid cases name a real id or class: a random one would only ever meet 404 or 422."""
    if case.meta is None or case.meta.generation.mode.name != "POSITIVE":
        return
    containers = [case.path_parameters, case.query, case.body if isinstance(case.body, dict) else None]
    for container in filter(None, containers):
        for name, value in list(container.items()):
            choices = seeded.real.get(name)
            if name == "source_id" and case.method.upper() == "DELETE":
                choices = seeded.retiring
            coin = _coin(value)
            if choices and coin[0] % 2:
                container[name] = choices[coin[1] % len(choices)]


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=not RANDOM, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_contract(case, keys: Keys, seeded: Seeded):
    _point_at_real_things(case, seeded)
    case.headers.pop("Authorization", None)  # a generated one would stand in for the keys below
    for key in (keys.admin, keys.reader, keys.auditor, keys.support, keys.catalog, None):
        case.call_and_validate(headers={"Authorization": f"Bearer {key}"} if key else None, checks=CHECKS)


def test_a_refused_body_field_reads_as_every_other_422(client, keys: Keys):
    """Named by its path, in the service's words: no msgspec `$.` path, no raw regular expression."""
    admin = Api(client, keys.admin)
    refused = admin.post("/v1/sources", json={"id": "Not A Slug", "title": "Returns", "owner": "support",
                                              "source_class": "policy"})
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["field"] == "id"
    assert problem["detail"].startswith("id: ")
    assert "regex" not in problem["detail"] and "$." not in problem["detail"] and "[a-z0-9]" not in problem["detail"]
    untyped = admin.patch("/v1/sources/support-handbook", json={"title": None})
    assert untyped.status_code == 422, untyped.text
    assert untyped.json()["detail"] == "title: Expected `str`, got `null`"
    # Found by the fuzzer: a field name is the caller's text, backslashes included.
    unknown = admin.patch("/v1/sources/support-handbook", json={"C\\L": {}})
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["field"] == "C\\L"


def _send(api_schema, key: str | None, method: str, path: str, expect: int, *, query=None, body=None, headers=None,
          **path_parameters):
    """One request a user would make, held to the same checks as the generated ones."""
    operation = api_schema[path][method]
    case = operation.Case(path_parameters=path_parameters, query=query, headers=headers,
                          **({} if body is None else {"body": body, "media_type": "application/json"}))
    response = case.call_and_validate(headers={"Authorization": f"Bearer {key}"} if key else None, checks=CHECKS)
    assert response.status_code == expect, response.text
    [media_type] = response.headers["content-type"]
    return response.json() if media_type.split(";")[0].endswith("json") else response.text


def test_the_answers_users_get_keep_the_contract(api_schema, keys: Keys, seeded: Seeded):
    """Random data rarely gets past the service's own rules; these requests do, so every success is checked too."""
    source = {"id": "support-faq", "title": "Shipping FAQ", "owner": "support", "source_class": "faq",
              "tags": ["shipping"]}
    documents = {"documents": [{"id": "shipping.md", "text": "# Shipping\n\nOrders ship within two days."}],
                 "version": "v1"}
    send = lambda *args, **kw: _send(api_schema, *args, **kw)  # noqa: E731
    send(keys.support, "POST", "/v1/sources", 201, body=source)
    send(keys.support, "POST", "/v1/sources", 409, body=source)
    send(keys.catalog, "POST", "/v1/sources", 403, body={**source, "id": "catalog-faq"})
    first = send(keys.support, "POST", "/v1/sources/{source_id}/snapshots", 201, body=documents,
                 source_id="support-faq")
    send(keys.support, "POST", "/v1/sources/{source_id}/snapshots", 200, body=documents, source_id="support-faq")
    send(keys.support, "POST", "/v1/sources/{source_id}/snapshots", 201, source_id="support-faq",
         body={"documents": [{"id": "shipping.md", "chunks": ["Orders ship within one day."]}], "version": "v2"})
    send(keys.support, "PATCH", "/v1/sources/{source_id}", 200, body={"title": "Shipping questions"},
         source_id="support-faq")
    send(keys.support, "POST", "/v1/sources/{source_id}/verify", 200, source_id="support-faq")
    send(keys.support, "POST", "/v1/snapshots/{snapshot_id}/activate", 200, body={"source_id": "support-faq"},
         snapshot_id=first["snapshot"]["id"])
    send(keys.reader, "GET", "/v1/sources/{source_id}", 200, source_id="support-faq")
    send(keys.reader, "GET", "/v1/sources/{source_id}", 404, source_id="nosuch")
    send(keys.reader, "GET", "/v1/sources", 200, query={"owner": "support", "limit": 1})
    send(keys.reader, "GET", "/v1/sources/{source_id}/snapshots", 200, source_id="support-faq")
    send(keys.reader, "GET", "/v1/snapshots/{snapshot_id}", 200, snapshot_id=first["snapshot"]["id"])
    send(keys.reader, "GET", "/v1/freshness", 200)
    send(keys.reader, "GET", "/v1/policy", 200)
    asked = {"query": "when do orders ship", "task_class": "general_question",
             "filters": {"source_ids": ["support-faq"]}, "top_k": 3}
    answer = send(keys.reader, "POST", "/v1/retrieve", 200, body=asked, headers={"X-Request-ID": "ship-1"})
    assert answer["results"], answer
    send(keys.reader, "POST", "/v1/retrieve", 409, body={**asked, "request_id": "ship-1"})
    send(keys.auditor, "GET", "/v1/audit/retrievals/{request_id}", 200, request_id="ship-1")
    for export in ("json", "jsonl", "csv"):
        send(keys.auditor, "GET", "/v1/audit/retrievals", 200, query={"format": export, "source_id": "support-faq"})
    send(keys.auditor, "GET", "/v1/audit/verify", 200)
    send(keys.auditor, "GET", "/v1/audit/checkpoint", 200)
    send(keys.reader, "GET", "/v1/audit/public-key", 200)
    send(keys.admin, "POST", "/v1/policy/reload", 200)
    send(keys.support, "DELETE", "/v1/sources/{source_id}", 200, source_id="support-faq")
    send(None, "GET", "/v1/sources", 401)
    send(keys.reader, "GET", "/health", 200)
    send(None, "GET", "/ready", 200)
    send(None, "GET", "/metrics", 200)
