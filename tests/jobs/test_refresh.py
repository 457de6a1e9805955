"""Scheduled refresh: sources with a uri are fetched when due, by the injected clock, not by sleeping."""

from __future__ import annotations

from freshness.refresh.job import backoff_seconds
from tests.conftest import Api, register
from tests.jobs.conftest import Page

PRICES_V1 = "Price list. The travel kettle costs 39 euros. The espresso grinder costs 129 euros."
PRICES_V2 = "Price list. The travel kettle costs 45 euros. The espresso grinder costs 119 euros."


def _source(admin: Api, source_id: str) -> dict:
    response = admin.get(f"/v1/sources/{source_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _report(admin: Api, source_id: str) -> dict:
    response = admin.get("/v1/freshness")
    assert response.status_code == 200, response.text
    [item] = [i for i in response.json()["items"] if i["source_id"] == source_id]
    return item


def _ask(admin: Api, reader_key: str, task_class: str, query: str = "kettle price") -> dict:
    response = admin.as_key(reader_key).post("/v1/retrieve", json={"query": query, "task_class": task_class})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_folder_source_is_published_when_registered_then_refreshed_each_interval(admin, run, clock, tmp_path):
    folder = tmp_path / "faq"
    folder.mkdir()
    (folder / "shipping.md").write_text("# Shipping\nParcels leave the warehouse within two working days.")
    register(admin, "shipping-faq", "faq", uri=folder.as_uri(), refresh_interval="1h")

    first = run("refresh")
    assert first is not None and first.outcome == "ok"
    assert first.counts["published"] == 1
    source = _source(admin, "shipping-faq")
    snapshot = source["active_snapshot"]
    assert snapshot["document_count"] == 1
    assert _report(admin, "shipping-faq")["last_refresh"]["outcome"] == "published"

    # Not due yet: nothing runs and nothing is recorded.
    clock.advance(minutes=30)
    assert run("refresh") is None

    # Due, unchanged: the same snapshot, verified now.
    clock.advance(minutes=31)
    same = run("refresh")
    assert same.counts["unchanged"] == 1
    after = _source(admin, "shipping-faq")["active_snapshot"]
    assert after["id"] == snapshot["id"]
    assert after["verified_at"] > snapshot["verified_at"]

    # Due, changed: a new snapshot replaces the old one; a deleted file is gone from the source.
    (folder / "returns.md").write_text("# Returns\nReturn labels are printed from the order page.")
    clock.advance(hours=1, seconds=1)
    changed = run("refresh")
    assert changed.counts["published"] == 1
    newer = _source(admin, "shipping-faq")["active_snapshot"]
    assert newer["id"] != snapshot["id"] and newer["document_count"] == 2


def test_an_http_source_goes_from_stale_to_fresh_without_a_manual_publish(admin, run, clock, keys, content_server):
    content_server.pages["/prices.txt"] = Page(body=PRICES_V1, etag='"v1"')
    register(admin, "price-list", "catalog", owner="catalog-team", uri=content_server.url + "/prices.txt",
             refresh_interval="6h")
    assert run("refresh").counts["published"] == 1
    assert _report(admin, "price-list")["status"] == "fresh"

    # The server is not asked again before the interval; meanwhile the content ages past 24h.
    clock.advance(hours=25)
    stale = _report(admin, "price-list")
    assert stale["status"] == "stale"
    assert "order_status" in stale["stale_for"] and "refund_decision" in stale["stale_for"]
    assert _ask(admin, keys.reader, "order_status")["status"] == "insufficient_context"

    # The refresh finds new content and publishes it: fresh again, served again.
    content_server.pages["/prices.txt"] = Page(body=PRICES_V2, etag='"v2"')
    outcome = run("refresh")
    assert outcome.counts["published"] == 1
    fresh = _report(admin, "price-list")
    assert fresh["status"] == "fresh" and fresh["stale_for"] == []
    answer = _ask(admin, keys.reader, "order_status")
    assert answer["status"] == "ok" and "45 euros" in answer["results"][0]["text"]


def test_not_modified_raises_verified_at_and_keeps_the_snapshot(admin, run, clock, content_server):
    content_server.pages["/prices.txt"] = Page(body=PRICES_V1, etag='"v1"')
    register(admin, "price-list", "catalog", owner="catalog-team", uri=content_server.url + "/prices.txt",
             refresh_interval="1h")
    run("refresh")
    before = _source(admin, "price-list")["active_snapshot"]
    clock.advance(hours=2)
    assert run("refresh").counts["unchanged"] == 1
    assert content_server.requests[-1].get("if-none-match") == '"v1"'
    after = _source(admin, "price-list")["active_snapshot"]
    assert after["id"] == before["id"]
    assert after["verified_at"] > before["verified_at"]
    assert _report(admin, "price-list")["age_seconds"] == 0


def test_a_failing_url_turns_failing_then_stale_while_the_last_good_snapshot_keeps_serving_with_a_flag(
    admin, run, clock, keys, content_server
):
    content_server.pages["/prices.txt"] = Page(body=PRICES_V1)
    register(admin, "price-list", "catalog", owner="catalog-team", uri=content_server.url + "/prices.txt",
             refresh_interval="1h")
    run("refresh")
    good = _source(admin, "price-list")["active_snapshot"]

    content_server.pages["/prices.txt"] = Page(status=500, body="database down")
    clock.advance(hours=1, seconds=1)
    failed = run("refresh")
    assert failed.counts["failed"] == 1
    report = _report(admin, "price-list")
    assert report["status"] == "failing"
    refresh = report["last_refresh"]
    assert refresh["outcome"] == report["last_refresh_outcome"] == "failed" and refresh["consecutive_failures"] == 1
    assert "500" in refresh["error"]
    # Retried sooner than the interval, with backoff.
    source = _source(admin, "price-list")
    assert source["active_snapshot"]["verified_at"] == good["verified_at"]
    assert source["active_snapshot"]["id"] == good["id"]

    # Failures go on for a day: the content is now stale, and stays served where the policy allows it.
    for _ in range(30):
        clock.advance(hours=1)
        run("refresh")
    report = _report(admin, "price-list")
    assert report["status"] == "stale"
    assert report["last_refresh"]["consecutive_failures"] > 10
    assert _source(admin, "price-list")["active_snapshot"]["verified_at"] == good["verified_at"]

    flagged = _ask(admin, keys.reader, "general_question")
    assert flagged["status"] == "flagged"
    assert flagged["results"][0]["snapshot_id"] == good["id"]
    assert flagged["results"][0]["freshness"] == "stale"
    refused = _ask(admin, keys.reader, "order_status")
    assert refused["status"] == "insufficient_context" and refused["results"] == []
    assert refused["rejected"][0]["reason"] == "stale"

    # The server recovers: the next refresh clears the failure.
    content_server.pages["/prices.txt"] = Page(body=PRICES_V1)
    clock.advance(hours=2)
    run("refresh")
    report = _report(admin, "price-list")
    assert report["status"] == "fresh"
    assert report["last_refresh"]["consecutive_failures"] == 0 and report["last_refresh"]["error"] is None


def test_failures_back_off_until_the_interval(admin, run, clock, content_server):
    register(admin, "gone", "catalog", owner="catalog-team", uri=content_server.url + "/missing.txt",
             refresh_interval="1h")
    run("refresh")
    first = _report(admin, "gone")
    assert first["status"] == "never_published"
    assert first["last_refresh"]["outcome"] == "failed" and "404" in first["last_refresh"]["error"]
    assert first["last_refresh"]["next_at"] > first["last_refresh"]["at"]
    # 30 s, 60 s, 120 s ... capped by the interval.
    assert [backoff_seconds(n, 3600) for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]
    assert backoff_seconds(3, 45) == 45
    clock.advance(seconds=29)
    assert run("refresh") is None
    clock.advance(seconds=2)
    assert run("refresh").counts["failed"] == 1
    assert _report(admin, "gone")["last_refresh"]["consecutive_failures"] == 2


def test_a_retired_source_is_not_refreshed(admin, run, content_server):
    content_server.pages["/prices.txt"] = Page(body=PRICES_V1)
    register(admin, "price-list", "catalog", owner="catalog-team", uri=content_server.url + "/prices.txt",
             refresh_interval="1h")
    assert admin.delete("/v1/sources/price-list").status_code in (200, 204)
    assert run("refresh") is None
    assert content_server.requests == []


def test_an_empty_folder_is_a_recorded_failure_not_an_empty_snapshot(admin, run, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    register(admin, "empty-faq", "faq", uri=folder.as_uri(), refresh_interval="1h")
    assert run("refresh").counts["failed"] == 1
    report = _report(admin, "empty-faq")
    assert report["status"] == "never_published"
    assert "no .md, .txt or .html" in report["last_refresh"]["error"]


def test_a_new_refresh_interval_makes_the_source_due_at_once(admin, run, clock, tmp_path):
    folder = tmp_path / "faq"
    folder.mkdir()
    (folder / "shipping.md").write_text("# Shipping\nParcels leave the warehouse within two working days.")
    register(admin, "shipping-faq", "faq", uri=folder.as_uri())
    assert run("refresh").counts["published"] == 1
    # Without an interval the source is fetched once, when registered.
    clock.advance(days=1)
    assert run("refresh") is None
    assert _report(admin, "shipping-faq")["last_refresh"]["next_at"] is None
    patched = admin.patch("/v1/sources/shipping-faq", json={"refresh_interval": "2h"})
    assert patched.status_code == 200, patched.text
    assert run("refresh").counts["unchanged"] == 1
    clock.advance(hours=1)
    assert run("refresh") is None
    clock.advance(hours=1, seconds=1)
    assert run("refresh").counts["unchanged"] == 1


def test_moving_a_source_to_another_uri_forgets_the_old_validators_and_failures(
    admin, run, clock, keys, content_server
):
    content_server.pages["/old.txt"] = Page(body=PRICES_V1, etag='"same-tag"')
    register(admin, "price-list", "catalog", owner="catalog-team", uri=content_server.url + "/old.txt",
             refresh_interval="1h")
    run("refresh")
    content_server.pages["/old.txt"] = Page(status=500)
    clock.advance(hours=2)
    run("refresh")
    assert _report(admin, "price-list")["status"] == "failing"

    # The new place happens to use the same ETag: it must not be asked conditionally with the old one.
    content_server.pages["/new.txt"] = Page(body=PRICES_V2, etag='"same-tag"')
    assert admin.patch("/v1/sources/price-list", json={"uri": content_server.url + "/new.txt"}).status_code == 200
    report = _report(admin, "price-list")
    assert report["status"] == "fresh" and report["last_refresh"]["consecutive_failures"] == 0
    assert run("refresh").counts["published"] == 1
    assert "if-none-match" not in content_server.requests[-1]
    assert "45 euros" in _ask(admin, keys.reader, "general_question")["results"][0]["text"]
