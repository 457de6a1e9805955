"""What the retrieve handler is given is resolved in place, not in tasks.

Litestar resolves a handler's dependencies of one level concurrently, one task each, as soon as there is
more than one; on the retrieve path, the busiest of the service, those tasks cost more per request than
the key lookup. Its handler names one dependency (the caller, the policy and the service together)."""

from __future__ import annotations

from litestar.routes import HTTPRoute

from freshness.api.deps import RequestContext
from freshness.retrieval import endpoints


def test_the_retrieve_handler_has_one_dependency_per_level(client, admin, keys):
    route = next(r for r in client.app.routes if r.path == "/v1/retrieve")
    assert isinstance(route, HTTPRoute)
    _, kwargs = route.route_handler_map["POST"]

    batches = [sorted(d.key for d in batch) for batch in kwargs.dependency_batches]

    assert batches == [["context"]]


def test_the_context_holds_the_caller_the_policy_in_force_and_the_service(client, admin, keys, monkeypatch):
    seen: list[RequestContext] = []
    answer_request = endpoints.answer_request

    def kept(runtime, principal, body, request_id, policy):  # noqa: ANN001, ANN202
        seen.append(RequestContext(principal, policy, runtime))
        return answer_request(runtime, principal, body, request_id, policy)

    monkeypatch.setattr(endpoints, "answer_request", kept)
    ask = {"query": "refunds", "task_class": "general_question"}
    response = admin.as_key(keys.reader).post("/v1/retrieve", json=ask)

    assert response.status_code == 200, response.text
    runtime = client.app.state.runtime
    assert seen[0].runtime is runtime
    assert seen[0].principal.role.value == "reader" and seen[0].principal.name == "assistant"
    assert seen[0].policy.version == runtime.policy.current.version == response.json()["policy_version"]
