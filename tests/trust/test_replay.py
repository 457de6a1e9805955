"""What an auditor sees replaying a recorded request against today's content and policy."""

from __future__ import annotations

from freshness.jobs.purge import purge_superseded
from tests.conftest import Api, publish, register
from tests.trust.conftest import ask

REFUNDS = {"id": "refunds.md", "text": "Refunds are accepted within 30 days of delivery."}
RETURNS = {"id": "returns.md", "text": "Refund returns need the receipt and the original box."}
RETURNS_V2 = {"id": "returns.md", "text": "Refund returns need only the receipt now."}


def _replay(api: Api, request_id: str, policy: str = "current", expect: int = 200) -> dict:
    response = api.post(f"/v1/audit/retrievals/{request_id}/replay", json={"policy": policy})
    assert response.status_code == expect, response.text
    return response.json()


def _ids(chunks: list[dict]) -> list[tuple[str, str]]:
    return sorted((c["document_id"], c["snapshot_id"]) for c in chunks)


def test_a_publish_keeps_unchanged_chunks_and_drops_changed_ones_as_superseded(admin, reader, keys, clock):
    register(admin, "refund-policy", "policy")
    v1 = publish(admin, "refund-policy", [REFUNDS, RETURNS], version="v1")["snapshot"]["id"]
    recorded = ask(reader, "q1", "refund_decision")
    assert len(recorded["results"]) == 2
    clock.advance(hours=1)
    v2 = publish(admin, "refund-policy", [REFUNDS, RETURNS_V2], version="v2")["snapshot"]["id"]

    body = _replay(admin.as_key(keys.auditor), "q1")
    assert body["request_id"] == "q1" and body["status_recorded"] == body["status_now"] == "ok"
    assert body["policy_version_used"] == body["policy_version_recorded"] == recorded["policy_version"]
    assert _ids(body["kept"]) == [("refunds.md", v2)]  # carried unchanged: shown with its snapshot now
    [dropped] = body["dropped"]
    assert (dropped["document_id"], dropped["snapshot_id"], dropped["why"]) == ("returns.md", v1, "superseded")
    assert "original box" in dropped["text"]
    assert _ids(body["added"]) == [("returns.md", v2)]


def test_a_rollback_brings_the_old_content_back(admin, reader, clock):
    register(admin, "refund-policy", "policy")
    v1 = publish(admin, "refund-policy", [RETURNS], version="v1")["snapshot"]["id"]
    clock.advance(hours=1)
    v2 = publish(admin, "refund-policy", [RETURNS_V2], version="v2")["snapshot"]["id"]
    ask(reader, "on-v2")
    assert admin.post(f"/v1/snapshots/{v1}/activate").status_code == 200

    body = _replay(admin, "on-v2")
    assert [(d["snapshot_id"], d["why"]) for d in body["dropped"]] == [(v2, "superseded")]
    assert _ids(body["added"]) == [("returns.md", v1)] and body["kept"] == []


def test_a_retired_source_drops_everything_it_served(admin, reader):
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [REFUNDS])
    ask(reader, "q1", "refund_decision")
    assert admin.delete("/v1/sources/refund-policy").status_code in (200, 204)
    body = _replay(admin, "q1")
    assert [d["why"] for d in body["dropped"]] == ["retired"]
    assert body["status_now"] == "insufficient_context" and body["kept"] == body["added"] == []


def test_content_of_a_purged_snapshot_is_dropped_as_purged(admin, reader, client, clock):
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [RETURNS], version="v1")
    ask(reader, "q1")
    publish(admin, "refund-policy", [RETURNS_V2], version="v2")
    clock.advance(days=8)  # past the purge retention
    assert purge_superseded(client.app.state.runtime)["snapshots_purged"] == 1
    assert [d["why"] for d in _replay(admin, "q1")["dropped"]] == ["purged"]


def test_a_policy_change_is_told_apart_from_content_aging(admin, reader, clock, policy_file):
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [REFUNDS])
    recorded = ask(reader, "q1", "refund_decision")
    clock.advance(days=2)
    text = policy_file.read_text()
    policy_file.write_text(text.replace('max_age = "7d"\nwarn_age = "5d"', 'max_age = "1d"\nwarn_age = "12h"', 1))
    assert admin.post("/v1/policy/reload").json()["changed"] is True

    current = _replay(admin, "q1", "current")
    assert current["policy_version_used"] != current["policy_version_recorded"]
    assert [d["why"] for d in current["dropped"]] == ["policy_changed"]
    assert current["status_now"] == "insufficient_context"

    as_recorded = _replay(admin, "q1", "recorded")
    assert as_recorded["policy_version_used"] == recorded["policy_version"]
    assert len(as_recorded["kept"]) == 1 and as_recorded["dropped"] == [] and as_recorded["status_now"] == "ok"

    clock.advance(days=6)  # 8 days old: too old even for the recorded policy
    assert [d["why"] for d in _replay(admin, "q1", "recorded")["dropped"]] == ["stale_now"]
    assert [d["why"] for d in _replay(admin, "q1", "current")["dropped"]] == ["stale_now"]


def test_better_content_elsewhere_outranks_a_recorded_chunk(admin, reader):
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [REFUNDS])
    ask(reader, "q1", "refund_decision", query="refund delivery", top_k=1)
    register(admin, "refund-faq", "policy")
    publish(admin, "refund-faq", [{"id": "faq.md", "text": "Refund delivery: refund delivery costs refund."}])
    body = _replay(admin, "q1")
    assert [d["why"] for d in body["dropped"]] == ["outranked"]
    assert [a["source_id"] for a in body["added"]] == ["refund-faq"]


def test_a_replay_records_nothing_and_counts_in_no_retrieval_metric(admin, reader, client):
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [REFUNDS])
    ask(reader, "q1")
    before = admin.get("/v1/audit/retrievals", params={"limit": 10}).json()["items"]
    metrics_before = [line for line in client.get("/metrics").text.splitlines()
                      if line.startswith("freshness_retrievals_total")]
    _replay(admin, "q1")
    assert admin.get("/v1/audit/retrievals", params={"limit": 10}).json()["items"] == before
    assert [line for line in client.get("/metrics").text.splitlines()
            if line.startswith("freshness_retrievals_total")] == metrics_before


def test_refusals(admin, reader, keys):
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [REFUNDS])
    ask(reader, "q1")
    assert _replay(reader, "q1", expect=403)["status"] == 403
    assert _replay(admin.as_key(keys.support), "q1", expect=403)["status"] == 403
    assert "nope" in _replay(admin, "nope", expect=404)["detail"]
    bad = admin.post("/v1/audit/retrievals/q1/replay", json={"policy": "yesterday"})
    assert bad.status_code == 422 and bad.json()["field"] == "policy"
    assert admin.post("/v1/audit/retrievals/q1/replay", json={}).json()["policy_version_used"]  # default current


def test_a_replay_sent_without_a_body_judges_under_the_policy_in_force(admin, reader, keys):
    """SPEC §12: the body's `policy` defaults to `current`, so an auditor may send no body at all."""
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [REFUNDS])
    recorded = ask(reader, "q1", "refund_decision")

    response = admin.as_key(keys.auditor).post("/v1/audit/retrievals/q1/replay")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["policy_version_used"] == recorded["policy_version"]
    assert _ids(body["kept"]) == _ids(recorded["results"])
