"""What a RAG app reports after answering: one outcome per request, by the key that asked (or an admin)."""

from __future__ import annotations

from tests.conftest import Api, publish, register
from tests.trust.conftest import ask, tell


def _answered(admin: Api, reader: Api, *request_ids: str) -> None:
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])
    for request_id in request_ids:
        ask(reader, request_id)


def test_the_reader_that_asked_records_one_outcome(admin, reader, clock):
    _answered(admin, reader, "q1")
    stored = tell(reader, "q1", "edited", edit_seconds=42, note="fixed the date")
    assert stored["request_id"] == "q1" and stored["outcome"] == "edited"
    assert stored["edit_seconds"] == 42.0 and stored["note"] == "fixed the date"
    assert stored["task_class"] == "general_question"
    assert stored["recorded_at"].startswith(clock.now().strftime("%Y-%m-%dT%H:%M"))

    second = tell(reader, "q1", "accepted", expect=409)
    assert second["status"] == 409 and "already recorded" in second["detail"]


def test_an_unknown_request_is_404(admin, reader):
    missing = tell(reader, "never-asked", "accepted", expect=404)
    assert "never-asked" in missing["detail"]


def test_another_reader_may_not_tell_the_outcome_but_an_admin_may(admin, reader, other_reader):
    _answered(admin, reader, "q1", "q2")
    refused = tell(admin.as_key(other_reader), "q1", "accepted", expect=403)
    assert "key that made the request" in refused["detail"]
    tell(admin, "q1", "escalated")
    tell(reader, "q2", "fallback")


def test_auditors_and_publishers_may_not_record_outcomes(admin, reader, keys):
    _answered(admin, reader, "q1")
    tell(admin.as_key(keys.auditor), "q1", "accepted", expect=403)
    tell(admin.as_key(keys.support), "q1", "accepted", expect=403)


def test_a_bad_body_is_a_422_naming_the_field_and_stores_nothing(admin, reader):
    _answered(admin, reader, "q1")
    for body, field in [({"outcome": "great"}, "outcome"), ({"outcome": "edited", "edit_seconds": -1}, "edit_seconds"),
                        ({"outcome": "edited", "edit_seconds": "ten"}, "edit_seconds"), ({}, "outcome"),
                        ({"outcome": "accepted", "mood": "happy"}, "mood")]:
        response = reader.post("/v1/retrievals/q1/outcome", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, response.json()
    tell(reader, "q1", "accepted")  # nothing was stored by the refusals


def test_outcomes_are_counted_in_prometheus(admin, reader, client):
    _answered(admin, reader, "q1", "q2")
    tell(reader, "q1", "edited", edit_seconds=30)
    tell(reader, "q2", "accepted")
    scraped = client.get("/metrics").text
    assert 'freshness_outcomes_total{outcome="edited",task_class="general_question"} 1.0' in scraped
    assert 'freshness_outcomes_total{outcome="accepted",task_class="general_question"} 1.0' in scraped
    assert 'freshness_edit_seconds_count{task_class="general_question"} 1.0' in scraped
    assert 'freshness_edit_seconds_sum{task_class="general_question"} 30.0' in scraped
