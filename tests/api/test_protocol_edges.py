"""What a caller learns from the edges of the protocol: methods a path takes, forged cursors, taken ids.

A client that uses the wrong method is told which ones the path takes (an `Allow` header, RFC 9110).
A cursor that someone edited by hand is a 422 however it was broken, never a 500. A RAG app that
reuses a request id another app already used gets a 409 that says the id is in use and nothing more:
not who used it, nor when, nor what was asked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from freshness.auth.keys import create_key
from freshness.db import make_engine, make_session_factory, session_scope
from tests.conftest import Api, publish, register


@pytest.fixture
def world(support, clock) -> None:
    """Three sources of the support team, so that lists have more than one page."""
    for name in ("refund-policy", "returns-policy", "warranty-policy"):
        register(support, name)
        publish(support, name, [{"id": f"{name}.md", "text": f"The {name.replace('-', ' ')}: 30 days."}])


# -- 405 and Allow ----------------------------------------------------------------------------------------

WRONG_METHODS = [
    ("DELETE", "/v1/retrieve", {"POST"}),
    ("PUT", "/v1/sources", {"GET", "POST"}),
    ("POST", "/v1/sources/refund-policy", {"GET", "PATCH", "DELETE"}),
    ("GET", "/v1/snapshots/snap_1/activate", {"POST"}),
]


@pytest.mark.parametrize("method, path, allowed", WRONG_METHODS, ids=[f"{m} {p}" for m, p, _ in WRONG_METHODS])
def test_a_wrong_method_is_a_405_that_names_the_allowed_ones(admin, method, path, allowed):
    response = admin.client.request(method, path, headers={"Authorization": f"Bearer {admin.key}"})

    assert response.status_code == 405, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    offered = {m.strip() for m in response.headers["allow"].split(",")}
    assert allowed <= offered
    assert method not in offered
    assert all(m in response.json()["detail"] for m in allowed)


# -- forged cursors ---------------------------------------------------------------------------------------


def signed_as_is(api: Api, body: bytes) -> str:
    """A cursor whose signature holds, as only the service itself could make one."""
    secret = api.client.app.state.runtime.cursors.secret
    return f"{body.decode()}.{hmac.new(secret, body, hashlib.sha256).hexdigest()[:24]}"


def signed(api: Api, payload: bytes) -> str:
    return signed_as_is(api, base64.urlsafe_b64encode(payload).rstrip(b"="))


FORGERIES = {
    "non-ascii": lambda api: "é",
    "non-ascii signature": lambda api: "eyJhZnRlciI6InoifQ.ééééééééééééééééééééééé",
    "non-ascii body": lambda api: "ü." + "0" * 24,
    "no signature": lambda api: "eyJhZnRlciI6InoifQ",
    "wrong signature": lambda api: "eyJhZnRlciI6InoifQ." + "0" * 24,
    "bad base64": lambda api: signed_as_is(api, b"a"),
    "not json": lambda api: signed(api, b"not json at all"),
    "not utf-8": lambda api: signed(api, b"\xff\xfe{}"),
    "json array": lambda api: signed(api, b'["after", "z"]'),
    "json string": lambda api: signed(api, b'"z"'),
}
LISTS = ["/v1/sources", "/v1/sources/refund-policy/snapshots", "/v1/audit/retrievals", "/v1/freshness"]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("forgery", FORGERIES, ids=list(FORGERIES))
def test_a_forged_cursor_is_a_422(admin, world, path, forgery):
    response = admin.get(path, params={"cursor": FORGERIES[forgery](admin)})

    assert response.status_code == 422, response.text
    assert response.json()["field"] == "cursor"


def test_a_cursor_the_service_issued_still_pages(admin, world):
    first = admin.get("/v1/sources", params={"limit": 2}).json()

    rest = admin.get("/v1/sources", params={"limit": 2, "cursor": first["next_cursor"]})

    assert rest.status_code == 200, rest.text
    assert [s["id"] for s in first["items"] + rest.json()["items"]] == [
        "refund-policy", "returns-policy", "warranty-policy"]


# -- a request id another client used ---------------------------------------------------------------------


@pytest.fixture
def other_app(settings, clock, admin) -> Api:
    """A second RAG application with a reader key of its own."""
    engine = make_engine(settings.resolved_database_url)
    with session_scope(make_session_factory(engine)) as session:
        _, key = create_key(session, "reader", "billing bot", clock.now())
    engine.dispose()
    return admin.as_key(key)


@pytest.mark.parametrize("via", ["body", "header"])
def test_a_request_id_in_use_is_a_409_that_says_only_that(admin, keys, world, other_app, clock, via):
    asked = {"query": "secret question about a refund", "task_class": "general_question"}
    first = admin.as_key(keys.reader).post("/v1/retrieve", json={**asked, "request_id": "ticket-1001"})
    assert first.status_code == 200, first.text
    record = admin.get("/v1/audit/retrievals/ticket-1001").json()
    clock.advance(minutes=5)

    if via == "body":
        response = other_app.post("/v1/retrieve", json={"query": "refunds", "task_class": "general_question",
                                                        "request_id": "ticket-1001"})
    else:
        response = other_app.post("/v1/retrieve", json={"query": "refunds", "task_class": "general_question"},
                                  headers={"X-Request-ID": "ticket-1001"})

    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert "in use" in detail
    served_at = first.json()["served_at"]
    principal = record["principal"]
    assert principal["name"] == "assistant"
    for secret in (principal["name"], principal["key_id"], served_at, served_at[:19], "secret question",
                   record["policy_version"], first.json()["results"][0]["chunk_id"]):
        assert secret not in response.text
    assert admin.get("/v1/audit/retrievals/ticket-1001").json() == record
    assert len(admin.get("/v1/audit/retrievals").json()["items"]) == 1
