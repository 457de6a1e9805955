"""A content owner rolls a bad publish back, confirms content is still current, and retires a source.

The support team published a wrong refund policy and rolls back to the previous one; an old snapshot
whose vectors were purged, or one that never finished, cannot come back. Later the team confirms the
policy is still right without re-publishing it, and finally retires a FAQ nobody should be served.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from freshness.db import make_engine, make_session_factory, session_scope
from freshness.models import Snapshot
from tests.conftest import Api, publish, register


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def set_state(settings, snapshot_id: str, state: str) -> None:
    """What the purge job, or a publish that failed, leaves in the database."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            session.get(Snapshot, snapshot_id).state = state
    finally:
        engine.dispose()


def states(api: Api, source_id: str) -> dict[str, str]:
    return {s["id"]: s["state"] for s in api.get(f"/v1/sources/{source_id}/snapshots").json()["items"]}


@pytest.fixture
def two_editions(support, clock) -> tuple[str, str]:
    """The refund policy published twice: the old edition superseded, the new one active."""
    register(support, "refund-policy")
    old = publish(support, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days."}], version="good")
    clock.advance(hours=1)
    new = publish(support, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 3 days."}], version="typo")
    clock.advance(hours=1)
    return old["snapshot"]["id"], new["snapshot"]["id"]


# -- roll back and forward ---------------------------------------------------------------------------


def test_rolling_back_makes_the_older_snapshot_active_again(support, two_editions, clock):
    old, new = two_editions

    response = support.post(f"/v1/snapshots/{old}/activate")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == old
    assert body["state"] == "active"
    assert when(body["activated_at"]) == clock.now()
    assert body["superseded_at"] is None
    assert states(support, "refund-policy") == {old: "active", new: "superseded"}
    shown = support.get("/v1/sources/refund-policy").json()
    assert shown["active_snapshot_id"] == old
    assert shown["active_snapshot"]["version"] == "good"
    assert when(support.get(f"/v1/snapshots/{new}").json()["superseded_at"]) == clock.now()


def test_rolling_forward_again_swaps_them_back(support, two_editions):
    old, new = two_editions
    support.post(f"/v1/snapshots/{old}/activate")

    response = support.post(f"/v1/snapshots/{new}/activate")

    assert response.status_code == 200
    assert states(support, "refund-policy") == {old: "superseded", new: "active"}
    assert support.get("/v1/sources/refund-policy").json()["active_snapshot_id"] == new


def test_activating_the_active_snapshot_changes_nothing(support, two_editions):
    old, new = two_editions

    response = support.post(f"/v1/snapshots/{new}/activate")

    assert response.status_code == 200
    assert response.json()["state"] == "active"
    assert states(support, "refund-policy") == {old: "superseded", new: "active"}


def test_a_rollback_keeps_the_age_of_the_content_it_brings_back(support, two_editions):
    old, _ = two_editions

    support.post(f"/v1/snapshots/{old}/activate")

    # Rolling back does not claim the old content was just checked: it is as old as it was.
    assert support.get("/v1/sources/refund-policy").json()["freshness"]["age_seconds"] == 2 * 3600


@pytest.mark.parametrize("state", ["purged", "failed"])
def test_a_purged_or_failed_snapshot_cannot_be_activated(support, two_editions, settings, state):
    old, new = two_editions
    set_state(settings, old, state)

    response = support.post(f"/v1/snapshots/{old}/activate")

    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert state in response.json()["detail"]
    assert states(support, "refund-policy") == {old: state, new: "active"}
    assert support.get("/v1/sources/refund-policy").json()["active_snapshot_id"] == new


def test_activating_with_the_wrong_source_named_is_refused(support, two_editions):
    old, new = two_editions
    register(support, "shipping-faq", source_class="faq")

    response = support.post(f"/v1/snapshots/{old}/activate", json={"source_id": "shipping-faq"})

    assert response.status_code == 422
    problem = response.json()
    assert problem["field"] == "source_id"
    assert "refund-policy" in problem["detail"] and "shipping-faq" in problem["detail"]
    assert states(support, "refund-policy") == {old: "superseded", new: "active"}
    assert support.get("/v1/sources/shipping-faq").json()["active_snapshot_id"] is None


def test_activating_with_the_right_source_named_is_allowed(support, two_editions):
    old, _ = two_editions

    response = support.post(f"/v1/snapshots/{old}/activate", json={"source_id": "refund-policy"})

    assert response.status_code == 200
    assert response.json()["state"] == "active"


def test_activating_an_unknown_snapshot_is_a_404(support, two_editions):
    response = support.post("/v1/snapshots/snap_01ARZ3NDEKTSV4RRFFQ69G5FAV/activate")

    assert response.status_code == 404


# -- verify ------------------------------------------------------------------------------------------


def test_verify_confirms_the_active_content_as_of_now(support, clock):
    register(support, "refund-policy")
    out = publish(support, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days."}])
    captured = clock.now()
    clock.advance(days=6)
    assert support.get("/v1/sources/refund-policy").json()["freshness"]["status"] == "warn"

    response = support.post("/v1/sources/refund-policy/verify")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == out["snapshot"]["id"]
    assert when(body["verified_at"]) == clock.now()
    assert when(body["captured_at"]) == captured
    shown = support.get("/v1/sources/refund-policy").json()
    assert shown["freshness"]["status"] == "fresh"
    assert shown["freshness"]["age_seconds"] == 0
    assert len(support.get("/v1/sources/refund-policy/snapshots").json()["items"]) == 1


def test_verify_never_moves_verified_at_back(support, clock):
    register(support, "refund-policy")
    future = clock.now() + timedelta(minutes=4)
    publish(support, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days."}],
            captured_at=future.isoformat())

    response = support.post("/v1/sources/refund-policy/verify")

    assert when(response.json()["verified_at"]) == future


def test_verify_without_a_published_snapshot_is_a_conflict(support):
    register(support, "refund-policy")

    response = support.post("/v1/sources/refund-policy/verify")

    assert response.status_code == 409
    assert "publish" in response.json()["detail"]


# -- retire ------------------------------------------------------------------------------------------


@pytest.fixture
def retired_faq(support, clock) -> tuple[dict, str]:
    register(support, "shipping-faq", source_class="faq")
    out = publish(support, "shipping-faq", [{"id": "faq.md", "text": "We ship within 2 days."}])
    clock.advance(hours=1)
    response = support.delete("/v1/sources/shipping-faq")
    assert response.status_code == 200, response.text
    return response.json(), out["snapshot"]["id"]


def test_retiring_stops_serving_at_once(support, retired_faq, clock):
    body, snapshot_id = retired_faq

    assert body["id"] == "shipping-faq"
    assert when(body["retired_at"]) == clock.now()
    assert body["active_snapshot_id"] is None
    snap = support.get(f"/v1/snapshots/{snapshot_id}").json()
    assert snap["state"] == "superseded"
    assert when(snap["superseded_at"]) == clock.now()
    shown = support.get("/v1/sources/shipping-faq").json()
    assert shown["retired_at"] is not None
    assert shown["active_snapshot"] is None


def test_a_retired_source_leaves_the_default_list_but_stays_findable(support, retired_faq):
    register(support, "refund-policy")

    default = [s["id"] for s in support.get("/v1/sources").json()["items"]]
    everything = {s["id"]: s for s in support.get("/v1/sources", params={"include_retired": "true"}).json()["items"]}

    assert default == ["refund-policy"]
    assert set(everything) == {"refund-policy", "shipping-faq"}
    assert everything["shipping-faq"]["retired_at"] is not None
    assert everything["refund-policy"]["retired_at"] is None


def test_a_retired_source_takes_no_more_snapshots(support, retired_faq):
    _, snapshot_id = retired_faq

    response = support.post("/v1/sources/shipping-faq/snapshots",
                            json={"documents": [{"id": "faq.md", "text": "We ship within 5 days."}]})

    assert response.status_code == 409
    assert "retired" in response.json()["detail"]
    assert states(support, "shipping-faq") == {snapshot_id: "superseded"}


def test_a_retired_source_cannot_be_verified_or_rolled_back(support, retired_faq):
    _, snapshot_id = retired_faq

    assert support.post("/v1/sources/shipping-faq/verify").status_code == 409
    assert support.post(f"/v1/snapshots/{snapshot_id}/activate").status_code == 409
    assert states(support, "shipping-faq") == {snapshot_id: "superseded"}
    assert support.get("/v1/sources/shipping-faq").json()["active_snapshot_id"] is None


def test_retiring_twice_keeps_the_first_retirement(support, retired_faq, clock):
    body, _ = retired_faq
    clock.advance(hours=1)

    again = support.delete("/v1/sources/shipping-faq")

    assert again.status_code == 200
    assert again.json()["retired_at"] == body["retired_at"]


def test_a_source_never_published_can_be_retired(support):
    register(support, "draft-faq", source_class="faq")

    response = support.delete("/v1/sources/draft-faq")

    assert response.status_code == 200
    assert response.json()["retired_at"] is not None


def test_a_retired_source_reports_retired_not_never_published(support, retired_faq):
    register(support, "draft-faq", source_class="faq")
    support.delete("/v1/sources/draft-faq")

    for source_id in ("shipping-faq", "draft-faq"):
        shown = support.get(f"/v1/sources/{source_id}").json()
        assert shown["freshness"]["status"] == "retired"
        assert shown["freshness"]["age_seconds"] is None
    listed = support.get("/v1/sources", params={"include_retired": "true"}).json()["items"]
    assert {s["id"]: s["freshness"]["status"] for s in listed} == {"draft-faq": "retired", "shipping-faq": "retired"}
    # The report is about what is live: retired sources are not in it, nor in its counts.
    report = support.get("/v1/freshness").json()
    assert report["items"] == [] and sum(report["counts"].values()) == 0
