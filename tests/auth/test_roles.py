"""Who may do what (SPEC §1, §4, §8): every /v1 call needs a live key, and each role only its part.

The RAG application (reader) and the auditor only read; the support team's publisher key changes the
support team's sources and nobody else's; the operator's admin key does everything, including a
policy reload. A caller without a valid key learns nothing, not even whether its request was well formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from freshness.auth.keys import create_key, revoke_key
from freshness.db import make_engine, make_session_factory, session_scope
from tests.conftest import Api, publish, register


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    path: str
    body: dict | None = None
    ok: int = 200

    def send(self, api: Api, world: dict, **kw):
        path = self.path.format(**world)
        if self.method == "GET":
            return api.get(path, **kw)
        if self.method == "DELETE":
            return api.delete(path, **kw)
        if self.method == "PATCH":
            return api.patch(path, json=self.body, **kw)
        return api.post(path, json=self.body, **kw)


READS = [
    Call("list sources", "GET", "/v1/sources"),
    Call("show source", "GET", "/v1/sources/{source}"),
    Call("snapshot history", "GET", "/v1/sources/{source}/snapshots"),
    Call("show snapshot", "GET", "/v1/snapshots/{old}"),
    Call("show policy", "GET", "/v1/policy"),
    Call("audit public key", "GET", "/v1/audit/public-key"),  # so that anyone can check a checkpoint
]
# Changes to the support team's refund policy: its publisher and the admin only.
WRITES = [
    Call("register", "POST", "/v1/sources",
         {"id": "returns-policy", "title": "Returns", "owner": "support", "source_class": "policy"}, ok=201),
    Call("edit", "PATCH", "/v1/sources/{source}", {"title": "Refunds, edited"}),
    Call("retire", "DELETE", "/v1/sources/{source}"),
    Call("publish", "POST", "/v1/sources/{source}/snapshots",
         {"documents": [{"id": "refunds.md", "text": "Refunds within 45 days."}]}, ok=201),
    Call("verify", "POST", "/v1/sources/{source}/verify"),
    Call("activate", "POST", "/v1/snapshots/{old}/activate"),
]
# The RAG application's call, and the auditor's.
RETRIEVE = Call("retrieve", "POST", "/v1/retrieve",
                {"query": "how long do refunds take", "task_class": "general_question"})
AUDIT = [
    Call("audit record", "GET", "/v1/audit/retrievals/{request_id}"),
    Call("audit search", "GET", "/v1/audit/retrievals"),
    Call("audit verify", "GET", "/v1/audit/verify"),
    Call("audit checkpoint", "GET", "/v1/audit/checkpoint"),
]
RELOAD = Call("reload policy", "POST", "/v1/policy/reload")
EVERY_CALL = READS + WRITES + [RETRIEVE] + AUDIT + [RELOAD]
WITH_BODY = [c for c in EVERY_CALL if c.method in ("POST", "PATCH")]


def by_name(calls: list[Call]):
    return pytest.mark.parametrize("call", calls, ids=[c.name for c in calls])


@pytest.fixture
def world(support, keys, clock) -> dict:
    """The support team's refund policy, published twice: one snapshot to roll back to, one active."""
    register(support, "refund-policy")
    old = publish(support, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days."}])
    clock.advance(hours=1)
    publish(support, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 60 days."}])
    clock.advance(hours=1)  # so that a verify that slipped through would show
    asked = support.as_key(keys.reader).post(
        "/v1/retrieve", json={"query": "refunds", "task_class": "general_question", "request_id": "req-world-1"}
    )
    assert asked.status_code == 200, asked.text
    return {"source": "refund-policy", "old": old["snapshot"]["id"], "request_id": "req-world-1"}


def stored(admin: Api) -> list:
    """Everything a caller could have changed: every source, its snapshot history, and the audit log."""
    sources = admin.get("/v1/sources", params={"include_retired": "true"}).json()["items"]
    audit = admin.get("/v1/audit/retrievals").json()["items"]
    return [[(s, admin.get(f"/v1/sources/{s['id']}/snapshots").json()["items"]) for s in sources], audit]


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"] and problem["title"] and problem["detail"]
    return problem


# -- no key, a bad key, a revoked key -------------------------------------------------------------------


@by_name(EVERY_CALL)
def test_without_a_key_every_call_is_refused(admin, world, call):
    before = stored(admin)

    response = call.send(admin.as_key(None), world)

    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert stored(admin) == before


BAD_HEADERS = {
    "unknown key": "Bearer fk_" + "x" * 43,
    "malformed key": "Bearer not-a-key",
    "empty bearer": "Bearer ",
    "scheme alone": "bearer",
    "scheme glued to the key": "Bearerfk_" + "x" * 43,
    "basic auth": "Basic c3VwcG9ydDpodW50ZXIy",
}


@pytest.mark.parametrize("header", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
@by_name(EVERY_CALL)
def test_a_bad_key_is_refused_on_every_call(admin, world, call, header):
    response = call.send(Api(admin.client, None), world, headers={"Authorization": header})

    assert_problem(response, 401)


SCHEMES = ["Bearer", "bearer", "BEARER", "bEaReR"]


@pytest.mark.parametrize("scheme", SCHEMES)
@by_name(READS + [RETRIEVE] + AUDIT)
def test_the_scheme_name_is_case_insensitive(admin, keys, world, call, scheme):
    """RFC 9110 §11.1: a client library that writes `bearer` is as right as one that writes `Bearer`."""
    key = keys.auditor if call in AUDIT else keys.reader

    response = call.send(Api(admin.client, None), world, headers={"Authorization": f"{scheme} {key}"})

    assert response.status_code == 200, response.text


def test_the_key_may_follow_the_scheme_after_several_spaces(admin, keys, world):
    response = admin.client.get("/v1/policy", headers={"Authorization": f"bearer   {keys.reader}"})

    assert response.status_code == 200, response.text


@by_name(WITH_BODY)
def test_a_body_is_not_read_for_a_caller_without_a_key(admin, world, call):
    path = call.path.format(**world)

    garbage = admin.client.request(call.method, path, content=b'{"not": "what this endpoint takes"')
    wrong_shape = admin.client.request(call.method, path, json={"unexpected": True})

    assert_problem(garbage, 401)
    assert_problem(wrong_shape, 401)


BAD_QUERIES = {
    "source list limit": "/v1/sources?limit=0",
    "source list cursor": "/v1/sources?cursor=forged",
    "history limit": "/v1/sources/refund-policy/snapshots?limit=many",
    "audit unknown filter": "/v1/audit/retrievals?colour=red",
    "audit format": "/v1/audit/retrievals?format=xml",
    "audit since": "/v1/audit/retrievals?since=yesterday",
    "audit status": "/v1/audit/retrievals?status=bogus",
    "audit empty filter": "/v1/audit/retrievals?snapshot_id=",
    "audit half a checkpoint": "/v1/audit/verify?seq=-1",
}


@pytest.mark.parametrize("path", BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
def test_query_parameters_are_not_judged_for_a_caller_without_a_key(admin, world, path):
    response = admin.as_key(None).get(path)

    assert_problem(response, 401)


@pytest.fixture
def revoked_key(settings, clock, support, world) -> str:
    """A second support publisher key that worked, then was revoked."""
    engine = make_engine(settings.resolved_database_url)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        row, key = create_key(session, "publisher", "old laptop", clock.now(), owner="support")
        key_id = row.id
    assert support.as_key(key).get("/v1/sources").status_code == 200
    with session_scope(sessions) as session:
        revoke_key(session, key_id, clock.now())
    engine.dispose()
    return key


@by_name(EVERY_CALL)
def test_a_revoked_key_is_refused_on_every_call(admin, world, revoked_key, call):
    before = stored(admin)

    response = call.send(admin.as_key(revoked_key), world)

    problem = assert_problem(response, 401)
    assert "revoked" in problem["detail"]
    assert stored(admin) == before


# -- roles -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["reader", "auditor", "support", "catalog", "admin"])
@by_name(READS)
def test_every_key_reads_sources_snapshots_policy_and_the_signing_key(admin, keys, world, call, role):
    response = call.send(admin.as_key(getattr(keys, role)), world)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("role", ["reader", "admin"])
def test_the_rag_application_and_the_admin_retrieve(admin, keys, world, role):
    before = stored(admin)

    response = RETRIEVE.send(admin.as_key(getattr(keys, role)), world)

    assert response.status_code == 200, response.text
    assert len(stored(admin)[1]) == len(before[1]) + 1  # and the retrieval was audited


@pytest.mark.parametrize("role", ["auditor", "support", "catalog"])
def test_auditors_and_publishers_do_not_retrieve(admin, keys, world, role):
    before = stored(admin)

    response = RETRIEVE.send(admin.as_key(getattr(keys, role)), world)

    assert_problem(response, 403)
    assert stored(admin) == before


@pytest.mark.parametrize("role", ["auditor", "admin"])
@by_name(AUDIT)
def test_the_auditor_and_the_admin_read_the_audit_log(admin, keys, world, call, role):
    response = call.send(admin.as_key(getattr(keys, role)), world)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("role", ["reader", "support", "catalog"])
@by_name(AUDIT)
def test_nobody_else_reads_the_audit_log(admin, keys, world, call, role):
    response = call.send(admin.as_key(getattr(keys, role)), world)

    problem = assert_problem(response, 403)
    assert "auditor" in problem["detail"]


@pytest.mark.parametrize("role", ["reader", "auditor"])
@by_name(WRITES)
def test_readers_and_auditors_change_nothing(admin, keys, world, call, role):
    before = stored(admin)

    response = call.send(admin.as_key(getattr(keys, role)), world)

    problem = assert_problem(response, 403)
    assert role in problem["detail"]
    assert stored(admin) == before


@by_name(WRITES)
def test_a_publisher_of_another_owner_cannot_touch_the_source(admin, keys, world, call):
    before = stored(admin)

    response = call.send(admin.as_key(keys.catalog), world)

    problem = assert_problem(response, 403)
    assert "catalog-team" in problem["detail"]
    assert "support" in problem["detail"]
    assert stored(admin) == before


@pytest.mark.parametrize("role", ["reader", "auditor"])
@by_name([c for c in WRITES if c.body is not None])
def test_a_reader_is_refused_for_its_role_before_its_body_is_judged(admin, keys, world, call, role):
    api = admin.as_key(getattr(keys, role))
    send = api.patch if call.method == "PATCH" else api.post

    response = send(call.path.format(**world), json={"unexpected": True})

    assert_problem(response, 403)


@pytest.mark.parametrize("role", ["support", "admin"])
@by_name(WRITES)
def test_the_owners_publisher_and_the_admin_may_change_the_source(admin, keys, world, call, role):
    before = stored(admin)

    response = call.send(admin.as_key(getattr(keys, role)), world)

    assert response.status_code == call.ok, response.text
    assert stored(admin) != before


def test_a_publisher_registers_only_for_its_own_owner(admin, keys, world):
    catalog = admin.as_key(keys.catalog)

    refused = catalog.post("/v1/sources", json={"id": "price-list", "title": "Prices", "owner": "support",
                                                 "source_class": "catalog"})
    allowed = catalog.post("/v1/sources", json={"id": "price-list", "title": "Prices", "owner": "catalog-team",
                                                 "source_class": "catalog"})

    assert_problem(refused, 403)
    assert allowed.status_code == 201
    assert allowed.json()["owner"] == "catalog-team"


def test_the_admin_registers_for_any_owner(admin, world):
    response = admin.post("/v1/sources", json={"id": "price-list", "title": "Prices", "owner": "catalog-team",
                                               "source_class": "catalog"})

    assert response.status_code == 201


@pytest.mark.parametrize("role", ["reader", "auditor", "support", "catalog"])
def test_only_the_admin_reloads_the_policy(admin, keys, world, role):
    refused = RELOAD.send(admin.as_key(getattr(keys, role)), world)
    allowed = RELOAD.send(admin, world)

    problem = assert_problem(refused, 403)
    assert "admin" in problem["detail"]
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["changed"] is False


def test_a_key_revoked_by_another_process_is_refused_on_the_next_request(admin, settings, clock):
    """`freshness keys revoke` runs in its own process while the service keeps serving."""
    import os
    import subprocess
    import sys

    from freshness.db import make_engine, make_session_factory, session_scope

    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    with session_scope(sessions) as session:
        row, key = create_key(session, "reader", "short-lived", clock.now())
    reader = admin.as_key(key)
    assert reader.get("/v1/policy").status_code == 200
    env = dict(os.environ, FRESHNESS_DATABASE_URL=settings.resolved_database_url,
               FRESHNESS_DATA_DIR=str(settings.data_dir), FRESHNESS_POLICY_FILE=str(settings.policy_file))
    revoked = subprocess.run([sys.executable, "-m", "freshness.cli", "keys", "revoke", row.id], env=env,
                             capture_output=True, text=True, timeout=60)
    assert revoked.returncode == 0, revoked.stderr
    refused = reader.get("/v1/policy")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
