"""What an owner reads after publishing: trust figures per task class, source and snapshot, by hand."""

from __future__ import annotations

import pytest

from tests.conftest import Api, publish, register
from tests.trust.conftest import ask, tell

FIGURES = ("retrievals", "fallback_rate", "flagged_rate", "stale_rejections", "outcomes", "trusted_completion",
           "correction_burden", "escalation_rate")


def _figures(group: dict) -> tuple:
    return tuple(group[name] for name in FIGURES)


@pytest.fixture
def history(admin: Api, reader: Api, clock) -> dict:
    """Six answers from snapshot v1, two of them after it went stale, each with an outcome."""
    register(admin, "refund-policy", "policy")
    v1 = publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}],
                 version="v1")["snapshot"]["id"]
    for request_id in ("g1", "g2", "g3"):
        assert ask(reader, request_id)["status"] == "ok"
    assert ask(reader, "r1", "refund_decision")["status"] == "ok"
    clock.advance(days=8)  # past the policy class's 7d
    assert ask(reader, "r2", "refund_decision")["status"] == "insufficient_context"
    assert ask(reader, "g4")["status"] == "flagged"
    tell(reader, "g1", "accepted")  # no edit_seconds: counts 0 in the burden
    tell(reader, "g2", "edited", edit_seconds=60)
    tell(reader, "g3", "escalated")
    tell(reader, "r1", "accepted", edit_seconds=30)
    tell(reader, "g4", "edited", edit_seconds=90)
    tell(reader, "r2", "fallback")
    return {"v1": v1}


def test_trust_by_task_class(admin, keys, history):
    report = admin.as_key(keys.auditor).get("/v1/trust", params={"since": "30d", "by": "task_class"})
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["by"] == "task_class"
    groups = {g["task_class"]: _figures(g) for g in body["groups"]}
    # general: 4 retrievals, g4 flagged; outcomes accepted, edited 60, escalated, edited 90
    assert groups["general_question"] == (4, 0.0, 0.25, 0, 4, 0.25, 50.0, 0.25)
    # refund: r1 ok, r2 fell back on one stale chunk; outcomes accepted 30, fallback
    assert groups["refund_decision"] == (2, 0.5, 0.0, 1, 2, 0.5, 30.0, 0.0)


def test_trust_by_source_counts_the_fallback_its_withheld_chunk_caused(admin, history):
    body = admin.get("/v1/trust", params={"since": "30d", "by": "source"}).json()
    [group] = body["groups"]
    assert group["source_id"] == "refund-policy"
    assert _figures(group) == (6, round(1 / 6, 6), round(1 / 6, 6), 1, 6, round(2 / 6, 6), 45.0, round(1 / 6, 6))


def test_the_window_and_the_task_class_narrow_the_figures(admin, history):
    recent = admin.get("/v1/trust", params={"since": "1d"}).json()
    assert {g["task_class"]: g["retrievals"] for g in recent["groups"]} == {"general_question": 1,
                                                                          "refund_decision": 1}
    only = admin.get("/v1/trust", params={"since": "30d", "task_class": "refund_decision"}).json()
    assert [g["task_class"] for g in only["groups"]] == ["refund_decision"]
    assert only["thresholds"] == {"min_outcomes": 20, "max_burden_increase": 0.5, "max_fallback_increase": 0.05}


def test_a_group_without_outcomes_has_null_rates(admin, reader):
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])
    ask(reader, "q1")
    [group] = admin.get("/v1/trust").json()["groups"]
    assert _figures(group) == (1, 0.0, 0.0, 0, 0, None, None, None)


def test_a_snapshot_that_costs_more_corrections_is_worse_than_its_predecessor(admin, reader, history, policy_file):
    policy_file.write_text(policy_file.read_text() + "\n[trust]\nmin_outcomes = 2\n")
    assert admin.post("/v1/policy/reload").status_code == 200
    v2 = publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 14 days."}],
                 version="v2")["snapshot"]["id"]
    for request_id in ("n1", "n2"):
        assert ask(reader, request_id)["status"] == "ok"
        tell(reader, request_id, "edited", edit_seconds=100)
    body = admin.get("/v1/trust", params={"since": "30d", "by": "snapshot"}).json()
    assert body["thresholds"]["min_outcomes"] == 2
    first, second = body["groups"]
    assert (first["snapshot_id"], first["snapshot_version"], first["predecessor_id"]) == (history["v1"], "v1", None)
    assert first["worse"] is False and first["predecessor"] is None
    assert (second["snapshot_id"], second["predecessor_id"], second["source_id"]) == (v2, history["v1"],
                                                                                      "refund-policy")
    # burden 100 against 45: more than half again as much
    assert second["correction_burden"] == 100.0 and second["predecessor"]["correction_burden"] == 45.0
    assert second["worse"] is True


def test_not_worse_below_min_outcomes_or_within_the_allowed_increase(admin, reader, history, policy_file):
    v2 = publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 14 days."}],
                 version="v2")["snapshot"]["id"]
    for request_id in ("n1", "n2"):
        ask(reader, request_id)
        tell(reader, request_id, "edited", edit_seconds=100)
    by_snapshot = admin.get("/v1/trust", params={"since": "30d", "by": "snapshot"}).json()["groups"]
    assert [g["worse"] for g in by_snapshot if g["snapshot_id"] == v2] == [False]  # default min_outcomes 20

    policy_file.write_text(policy_file.read_text() + "\n[trust]\nmin_outcomes = 2\nmax_burden_increase = 1.5\n")
    assert admin.post("/v1/policy/reload").status_code == 200
    by_snapshot = admin.get("/v1/trust", params={"since": "30d", "by": "snapshot"}).json()["groups"]
    # 100 is within 45 * (1 + 1.5); the fallback rate fell from 1/6 to 0
    assert [g["worse"] for g in by_snapshot if g["snapshot_id"] == v2] == [False]


def test_readers_and_publishers_may_not_read_trust(admin, keys):
    for key in (keys.reader, keys.support):
        assert admin.as_key(key).get("/v1/trust").status_code == 403


def test_bad_parameters_are_422_naming_them(admin):
    for params, field in [({"by": "owner"}, "by"), ({"since": "yesterday"}, "since"),
                          ({"since": "1d", "until": "2d"}, "since")]:
        response = admin.get("/v1/trust", params=params)
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field
