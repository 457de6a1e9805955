"""A dashboard script lists sources and the freshness report with filters; a typo in a filter or a page
size out of range is a 422 that names the parameter and says what it takes, never an empty list that
looks like "nothing matches".
"""

from __future__ import annotations

import pytest

from tests.conftest import publish, register

KNOWN_CLASSES = "catalog, faq, policy"


@pytest.fixture
def catalogue(support) -> None:
    register(support, "refund-policy", source_class="policy")
    register(support, "shipping-faq", source_class="faq")
    publish(support, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days."}])


def assert_refused(response, field: str, *words: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/invalid-input")
    assert problem["field"] == field
    for word in words:
        assert word in problem["detail"], f"{word!r} not in {problem['detail']!r}"


@pytest.mark.parametrize("path", ["/v1/sources", "/v1/freshness"])
def test_an_unknown_class_filter_is_refused_with_the_classes_the_policy_defines(reader, catalogue, path):
    assert_refused(reader.get(path, params={"source_class": "polciy"}), "source_class", "polciy", KNOWN_CLASSES)
    assert_refused(reader.get(path, params={"source_class": ""}), "source_class", KNOWN_CLASSES)


def test_a_known_class_filter_with_no_sources_is_an_empty_page(reader, catalogue):
    page = reader.get("/v1/sources", params={"source_class": "catalog"}).json()

    assert page == {"items": [], "next_cursor": None}


def test_an_unknown_report_status_is_refused_with_the_statuses(reader, catalogue):
    response = reader.get("/v1/freshness", params={"status": "rotten"})

    assert_refused(response, "status", "rotten", "never_published, expired, stale, failing, warn, fresh")


@pytest.mark.parametrize(("path", "limit", "words"), [
    ("/v1/sources", "0", (">= 1",)),
    ("/v1/sources", "501", ("<= 500",)),
    ("/v1/sources", "ten", ("int",)),
    ("/v1/sources/refund-policy/snapshots", "0", (">= 1",)),
    ("/v1/sources/refund-policy/snapshots", "501", ("<= 500",)),
    ("/v1/freshness", "0", (">= 1",)),
    ("/v1/freshness", "1001", ("<= 1000",)),
])
def test_a_page_size_out_of_range_names_limit(reader, catalogue, path, limit, words):
    assert_refused(reader.get(path, params={"limit": limit}), "limit", "limit", *words)


def test_the_largest_page_sizes_are_accepted(reader, catalogue):
    assert reader.get("/v1/sources", params={"limit": 500}).status_code == 200
    assert reader.get("/v1/freshness", params={"limit": 1000}).status_code == 200


@pytest.mark.parametrize("value", ["maybe", "yes", ""])
def test_include_retired_takes_true_or_false_only(reader, catalogue, value):
    assert_refused(reader.get("/v1/sources", params={"include_retired": value}), "include_retired",
                   "include_retired", "bool")


@pytest.mark.parametrize("value", ["true", "false", "1", "0"])
def test_include_retired_as_true_or_false(support, reader, catalogue, value):
    support.delete("/v1/sources/shipping-faq")

    listed = [s["id"] for s in reader.get("/v1/sources", params={"include_retired": value}).json()["items"]]

    assert listed == (["refund-policy", "shipping-faq"] if value in ("true", "1") else ["refund-policy"])


@pytest.mark.parametrize("path", ["/v1/sources", "/v1/freshness"])
def test_an_empty_owner_is_refused_rather_than_ignored(reader, catalogue, path):
    assert_refused(reader.get(path, params={"owner": ""}), "owner", "owner")


def test_an_owner_nobody_has_is_an_empty_page(reader, catalogue):
    assert reader.get("/v1/sources", params={"owner": "nobody"}).json()["items"] == []


def test_a_filter_checks_the_key_before_the_value(client, catalogue):
    response = client.get("/v1/sources", params={"source_class": "polciy", "limit": "0"})

    assert response.status_code == 401
