"""A content owner registers sources, finds them again in the catalogue, and keeps their details current.

The support team registers its refund policy and FAQ, the catalog team its price list; anyone with a key
browses the list page by page and opens a source to see what it serves and how fresh it is.
"""

from __future__ import annotations

from datetime import datetime

from tests.conftest import Api, publish, register


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def list_ids(api: Api, **params) -> list[str]:
    response = api.get("/v1/sources", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_a_publisher_registers_its_source_and_gets_it_back_whole(support, clock):
    response = support.post(
        "/v1/sources",
        json={
            "id": "refund-policy",
            "title": "Refund policy",
            "owner": "support",
            "source_class": "policy",
            "uri": "https://intranet.example/refunds",
            "refresh_interval": "12h",
            "tags": ["refunds", "eu"],
            "metadata": {"team": "support", "language": "en"},
        },
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] == "refund-policy"
    assert body["title"] == "Refund policy"
    assert body["owner"] == "support"
    assert body["source_class"] == "policy"
    assert body["uri"] == "https://intranet.example/refunds"
    assert body["refresh_interval"] == "12h"
    assert body["refresh_interval_seconds"] == 12 * 3600
    assert sorted(body["tags"]) == ["eu", "refunds"]
    assert body["metadata"] == {"team": "support", "language": "en"}
    assert when(body["created_at"]) == clock.now()
    assert when(body["updated_at"]) == clock.now()
    assert body["retired_at"] is None
    assert body["active_snapshot_id"] is None
    assert body["active_snapshot"] is None
    assert body["freshness"]["status"] == "never_published"


def test_an_id_in_use_is_refused_and_the_first_source_is_untouched(support, admin):
    register(support, "refund-policy", title="Refund policy")

    again = admin.post(
        "/v1/sources",
        json={"id": "refund-policy", "title": "Someone else's", "owner": "support", "source_class": "faq"},
    )

    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert "refund-policy" in again.json()["detail"]
    kept = admin.get("/v1/sources/refund-policy").json()
    assert kept["title"] == "Refund policy"
    assert kept["source_class"] == "policy"


def test_a_retired_source_keeps_its_id_taken(support):
    register(support, "old-faq", source_class="faq")
    assert support.delete("/v1/sources/old-faq").status_code == 200

    again = support.post("/v1/sources",
                         json={"id": "old-faq", "title": "New FAQ", "owner": "support", "source_class": "faq"})

    assert again.status_code == 409
    assert "old-faq" in again.json()["detail"]
    assert support.get("/v1/sources/old-faq").json()["retired_at"] is not None


def test_anyone_filters_the_catalogue_by_owner_and_by_class(support, catalog, reader):
    register(support, "refund-policy", source_class="policy")
    register(support, "shipping-faq", source_class="faq")
    register(catalog, "price-list", source_class="catalog", owner="catalog-team")
    register(catalog, "warranty-terms", source_class="policy", owner="catalog-team")

    assert list_ids(reader) == ["price-list", "refund-policy", "shipping-faq", "warranty-terms"]
    assert list_ids(reader, owner="support") == ["refund-policy", "shipping-faq"]
    assert list_ids(reader, owner="catalog-team") == ["price-list", "warranty-terms"]
    assert list_ids(reader, source_class="policy") == ["refund-policy", "warranty-terms"]
    assert list_ids(reader, owner="support", source_class="policy") == ["refund-policy"]
    assert list_ids(reader, owner="nobody") == []


def test_retired_sources_leave_the_list_unless_asked_for(support, reader):
    register(support, "refund-policy")
    register(support, "old-faq", source_class="faq")
    support.delete("/v1/sources/old-faq")

    assert list_ids(reader) == ["refund-policy"]
    assert list_ids(reader, include_retired="true") == ["old-faq", "refund-policy"]
    assert list_ids(reader, include_retired="true", source_class="faq") == ["old-faq"]


def test_walking_the_list_page_by_page_sees_every_source_once(support, reader):
    ids = [f"doc-{n:02d}" for n in range(11)]
    for source_id in reversed(ids):
        register(support, source_id, source_class="faq")

    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = reader.get("/v1/sources", params=params).json()
        pages += 1
        assert len(page["items"]) <= 3
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10, "the cursor never ends"

    assert seen == ids
    assert pages == 4


def test_a_filtered_list_is_walked_page_by_page_too(support, catalog, reader):
    for n in range(3):
        register(support, f"support-{n}", source_class="faq")
        register(catalog, f"catalog-{n}", source_class="catalog", owner="catalog-team")

    first = reader.get("/v1/sources", params={"owner": "support", "limit": 2}).json()
    second = reader.get("/v1/sources", params={"owner": "support", "limit": 2, "cursor": first["next_cursor"]}).json()

    assert [i["id"] for i in first["items"]] == ["support-0", "support-1"]
    assert [i["id"] for i in second["items"]] == ["support-2"]
    assert second["next_cursor"] is None


def test_a_cursor_the_service_did_not_issue_is_refused(reader):
    response = reader.get("/v1/sources", params={"cursor": "eyJhZnRlciI6InoifQ.0000"})

    assert response.status_code == 422
    assert "cursor" in response.json()["detail"]


def test_the_detail_shows_never_published_until_the_first_snapshot_then_fresh(support, reader, clock):
    register(support, "refund-policy")

    before = reader.get("/v1/sources/refund-policy").json()
    assert before["active_snapshot"] is None
    assert before["freshness"]["status"] == "never_published"
    assert before["freshness"]["max_age_seconds"] == 7 * 86400

    out = publish(support, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days."}],
                  version="2024-06")
    clock.advance(hours=1)

    after = reader.get("/v1/sources/refund-policy").json()
    assert after["active_snapshot_id"] == out["snapshot"]["id"]
    assert after["active_snapshot"]["id"] == out["snapshot"]["id"]
    assert after["active_snapshot"]["version"] == "2024-06"
    assert after["active_snapshot"]["state"] == "active"
    assert after["freshness"]["status"] == "fresh"
    assert after["freshness"]["age_seconds"] == 3600


def test_the_detail_turns_warn_then_stale_as_the_content_ages(support, reader, clock):
    register(support, "refund-policy")
    publish(support, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days."}])

    clock.advance(days=6)
    assert reader.get("/v1/sources/refund-policy").json()["freshness"]["status"] == "warn"
    clock.advance(days=2)
    assert reader.get("/v1/sources/refund-policy").json()["freshness"]["status"] == "stale"


def test_an_unknown_source_is_a_404_problem(reader):
    response = reader.get("/v1/sources/no-such-source")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "no-such-source" in response.json()["detail"]


def test_the_owner_edits_title_tags_metadata_and_refresh_interval(support, reader, clock):
    register(support, "refund-policy", tags=["refunds"], metadata={"team": "support"})
    clock.advance(minutes=10)

    response = support.patch(
        "/v1/sources/refund-policy",
        json={"title": "Refunds and returns", "tags": ["returns", "refunds"], "metadata": {"team": "cx"},
              "refresh_interval": "30m"},
    )

    assert response.status_code == 200, response.text
    shown = reader.get("/v1/sources/refund-policy").json()
    assert shown["title"] == "Refunds and returns"
    assert shown["tags"] == ["refunds", "returns"]
    assert shown["metadata"] == {"team": "cx"}
    assert shown["refresh_interval"] == "30m"
    assert shown["refresh_interval_seconds"] == 1800
    assert when(shown["updated_at"]) == clock.now()
    assert when(shown["created_at"]) < clock.now()


def test_a_patch_changes_only_the_fields_it_names(support, reader):
    register(support, "refund-policy", tags=["refunds"], metadata={"team": "support"}, refresh_interval="1h")

    assert support.patch("/v1/sources/refund-policy", json={"title": "Refunds"}).status_code == 200

    shown = reader.get("/v1/sources/refund-policy").json()
    assert shown["title"] == "Refunds"
    assert shown["tags"] == ["refunds"]
    assert shown["metadata"] == {"team": "support"}
    assert shown["refresh_interval"] == "1h"


def test_a_patch_keeps_the_active_snapshot_serving(support, reader):
    register(support, "refund-policy")
    out = publish(support, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days."}])

    support.patch("/v1/sources/refund-policy", json={"tags": ["refunds"]})

    shown = reader.get("/v1/sources/refund-policy").json()
    assert shown["active_snapshot_id"] == out["snapshot"]["id"]
    assert shown["freshness"]["status"] == "fresh"


def test_a_retired_source_cannot_be_edited(support, reader):
    register(support, "old-faq", source_class="faq", title="Old FAQ")
    support.delete("/v1/sources/old-faq")

    response = support.patch("/v1/sources/old-faq", json={"title": "Revived FAQ"})

    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "retired" in response.json()["detail"]
    assert reader.get("/v1/sources/old-faq").json()["title"] == "Old FAQ"
