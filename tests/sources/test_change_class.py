"""A content owner files a source under the wrong class and moves it; the service judges it under the new
class from that moment, in what it shows and in what it serves.

The support team registered its shipping FAQ as `policy`, so order-status questions never saw it; it
moves the FAQ to `faq`. The catalog team moves price notes into the stricter `catalog` class and refund
decisions stop using them once they are older than six hours. An operator who wants to drop a class
from the policy is told how to move its sources first.
"""

from __future__ import annotations

import pytest

from tests.conftest import Api, publish, register

SHIPPING = "We ship every order within 2 days; express shipping arrives the next day."
PRICES = "The Aero 2 running shoe costs 129 EUR; refunds are paid at that price."


def retrieve(api: Api, query: str, task_class: str, **extra) -> dict:
    response = api.post("/v1/retrieve", json={"query": query, "task_class": task_class, **extra})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def misfiled_faq(support, clock) -> None:
    """The shipping FAQ, filed under `policy` and published eight days ago: stale for its class."""
    register(support, "shipping-faq", source_class="policy")
    publish(support, "shipping-faq", [{"id": "shipping.md", "text": SHIPPING}])
    clock.advance(days=8)


def test_moving_a_source_judges_it_under_the_new_class_at_once(support, reader, misfiled_faq):
    assert reader.get("/v1/sources/shipping-faq").json()["freshness"]["status"] == "stale"

    response = support.patch("/v1/sources/shipping-faq", json={"source_class": "faq"})

    assert response.status_code == 200, response.text
    moved = response.json()
    assert moved["source_class"] == "faq"
    assert moved["freshness"]["status"] == "fresh"  # 8 days, against faq's 21-day warn age
    assert moved["freshness"]["max_age_seconds"] == 30 * 86400
    assert reader.get("/v1/sources/shipping-faq").json()["freshness"] == moved["freshness"]
    report = {i["source_id"]: i for i in reader.get("/v1/freshness").json()["items"]}
    assert report["shipping-faq"]["source_class"] == "faq"
    assert report["shipping-faq"]["status"] == "fresh"


def test_retrieval_serves_a_moved_source_under_its_new_class_right_away(support, reader, misfiled_faq):
    # order_status may use catalog and faq content, not policy: the misfiled FAQ is not a candidate.
    before = retrieve(reader, "when will my order ship", "order_status")
    assert before["results"] == [] and before["status"] == "insufficient_context"

    support.patch("/v1/sources/shipping-faq", json={"source_class": "faq"})

    after = retrieve(reader, "when will my order ship", "order_status")
    assert after["status"] == "ok"
    [served] = after["results"]
    assert served["source_id"] == "shipping-faq"
    assert served["source_class"] == "faq"
    assert served["freshness"] == "fresh"


def test_a_class_filter_finds_a_moved_source_under_its_new_class_only(support, reader, misfiled_faq):
    support.patch("/v1/sources/shipping-faq", json={"source_class": "faq"})

    as_faq = retrieve(reader, "shipping", "general_question", filters={"source_classes": ["faq"]})
    as_policy = retrieve(reader, "shipping", "general_question", filters={"source_classes": ["policy"]})

    assert [r["source_id"] for r in as_faq["results"]] == ["shipping-faq"]
    assert as_policy["results"] == []


def test_moving_into_a_stricter_class_makes_refund_decisions_reject_it(catalog, reader, clock):
    register(catalog, "price-notes", source_class="faq", owner="catalog-team")
    publish(catalog, "price-notes", [{"id": "prices.md", "text": PRICES}])
    clock.advance(days=2)

    moved = catalog.patch("/v1/sources/price-notes", json={"source_class": "catalog"}).json()

    assert moved["freshness"]["status"] == "stale"  # 2 days against catalog's 24 hours
    answer = retrieve(reader, "refund price of the Aero 2 shoe", "refund_decision")
    assert answer["status"] == "insufficient_context"
    [rejected] = answer["rejected"]
    assert rejected["source_id"] == "price-notes"
    assert rejected["reason"] == "stale"
    assert rejected["max_age_seconds"] == 6 * 3600  # refund_decision's own limit for catalog content


def test_a_class_the_policy_does_not_define_is_refused_with_the_known_ones(support, reader, misfiled_faq):
    response = support.patch("/v1/sources/shipping-faq", json={"source_class": "shipping"})

    assert response.status_code == 422
    problem = response.json()
    assert problem["field"] == "source_class"
    assert "shipping" in problem["detail"] and "catalog, faq, policy" in problem["detail"]
    assert reader.get("/v1/sources/shipping-faq").json()["source_class"] == "policy"


@pytest.mark.parametrize("who", ["catalog", "reader", "auditor"])
def test_only_the_owners_publisher_or_an_admin_moves_a_source(client, keys, admin, reader, misfiled_faq, who):
    response = Api(client, getattr(keys, who)).patch("/v1/sources/shipping-faq", json={"source_class": "faq"})

    assert response.status_code == 403
    assert reader.get("/v1/sources/shipping-faq").json()["source_class"] == "policy"
    assert admin.patch("/v1/sources/shipping-faq", json={"source_class": "faq"}).status_code == 200


def test_a_retired_source_is_not_moved(support, misfiled_faq):
    support.delete("/v1/sources/shipping-faq")

    response = support.patch("/v1/sources/shipping-faq", json={"source_class": "faq"})

    assert response.status_code == 409
    assert support.get("/v1/sources/shipping-faq").json()["source_class"] == "policy"


WITHOUT_FAQ = """
[source_classes.policy]
max_age = "7d"

[source_classes.catalog]
max_age = "24h"

[task_classes.refund_decision]
criticality = "critical"
on_stale = "reject"
source_classes = ["policy", "catalog"]

[task_classes.general_question]
criticality = "low"
on_stale = "flag"
"""


def test_dropping_a_class_still_in_use_says_how_to_move_its_sources(admin, support, policy_file):
    register(support, "shipping-faq", source_class="faq")
    policy_file.write_text(WITHOUT_FAQ)

    refused = admin.post("/v1/policy/reload")

    assert refused.status_code == 422
    assert "PATCH /v1/sources/{id}" in refused.json()["detail"]
    assert support.patch("/v1/sources/shipping-faq", json={"source_class": "policy"}).status_code == 200
    reloaded = admin.post("/v1/policy/reload")
    assert reloaded.status_code == 200, reloaded.text
    assert "faq" not in reloaded.json()["source_classes"]
