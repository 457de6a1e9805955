"""The console in a real browser (Debian's chromium, driven by Playwright) against the app served by uvicorn:
an auditor traces a request, an owner compares two snapshots and rolls back. JavaScript is off throughout,
and no request may leave the app's origin.

Skipped where chromium is missing, unless CI is set (.ci/run installs it): then that is a failure.
Screenshots go to the test's folder, or to FRESHNESS_CONSOLE_SCREENSHOTS when it names one (docs/ holds
the README's).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import text

from freshness.app import create_app
from freshness.db import make_engine
from tests.client.live import serving_app

CHROMIUM = shutil.which("chromium")


@pytest.fixture
def chromium() -> Iterator:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("FRESHNESS_CONSOLE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def live(settings, clock, keys) -> Iterator[dict]:
    """The app on a loopback port with a small support desk's sources, snapshots and requests."""
    with serving_app(create_app(settings, clock=clock)) as base:
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {keys.admin}"}, timeout=30)
        ids = _seed(api, clock)
        _failing_refresh(settings, "warranty")
        api.close()
        yield {"base": base, **ids}


def _post(api: httpx.Client, path: str, body: dict) -> dict:
    answer = api.post(path, json=body)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def _seed(api: httpx.Client, clock) -> dict:
    sources = [("refunds", "Refund policy", "support", "policy"), ("prices", "Price list", "catalog-team", "catalog"),
               ("shipping", "Shipping FAQ", "support", "faq"), ("warranty", "Warranty terms", "support", "policy"),
               ("gift-cards", "Gift card rules", "support", "policy")]
    for source_id, title, owner, klass in sources:
        _post(api, "/v1/sources", {"id": source_id, "title": title, "owner": owner, "source_class": klass})
    v1 = _post(api, "/v1/sources/refunds/snapshots", {"version": "2026-10", "documents": [
        {"id": "policy", "title": "Refund policy", "text": "Refunds within 30 days of delivery.\nKeep the receipt."},
        {"id": "faq", "title": "Old FAQ", "text": "Shipping takes five days."}]})["snapshot"]["id"]
    _post(api, "/v1/sources/prices/snapshots", {"version": "week 47", "documents": [
        {"id": "kettle", "title": "Kettle", "text": "The kettle costs 30 euros."}]})
    _post(api, "/v1/sources/warranty/snapshots", {"version": "2026-06", "documents": [
        {"id": "terms", "title": "Warranty", "text": "Two years of warranty on every kettle."}]})
    clock.advance(days=5, hours=12)
    _post(api, "/v1/sources/shipping/snapshots", {"version": "v3", "documents": [
        {"id": "times", "title": "Delivery times", "text": "Parcels arrive within three working days."}]})
    v2 = _post(api, "/v1/sources/refunds/snapshots", {"version": "2026-11", "documents": [
        {"id": "policy", "title": "Refund policy", "text": "Refunds within 14 days of delivery.\nKeep the receipt."},
        {"id": "gift-cards", "title": "Gift cards", "text": "Gift cards cannot be refunded."}]})["snapshot"]["id"]
    for number, (query, task) in enumerate([("how many days to refund a kettle", "refund_decision"),
                                            ("what does the kettle cost", "order_status"),
                                            ("can I return a gift card", "general_question")]):
        _post(api, "/v1/retrieve", {"query": query, "task_class": task, "request_id": f"req-{number + 1}"})
    return {"v1": v1, "v2": v2}


def _failing_refresh(settings, source_id: str) -> None:
    # What the refresh job records after failed fetches; reaching a failing server here would only be slower.
    engine = make_engine(settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE sources SET uri = 'https://intranet.example/warranty', consecutive_failures = 3, "
                          "last_refresh_outcome = 'failed', last_refresh_error = 'HTTP 503 from intranet.example', "
                          "last_refresh_at = created_at WHERE id = :id"), {"id": source_id})
    engine.dispose()


def _open(chromium, base: str, **options):
    """A new browser tab without JavaScript that records every request it makes."""
    context = chromium.new_context(java_script_enabled=False, **options)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    # The browser reports what the pages' Content-Security-Policy blocked as console errors: there must be none.
    page.on("console", lambda message: requested.append(f"console {message.type}: {message.text}")
            if message.type == "error" else None)
    return context, page, requested


def _follow(page, locator) -> None:
    """Click what leads to another page and wait until that page has loaded."""
    with page.expect_navigation():
        locator.click()
    page.wait_for_load_state()


def _sign_in(page, base: str, key: str) -> None:
    page.goto(f"{base}/console/freshness")
    assert page.url.startswith(f"{base}/console/login")  # no session yet: sent to sign in
    page.get_by_label("API key").fill(key)
    _follow(page, page.get_by_role("button", name="Sign in"))  # through the redirect to the page asked for


def test_an_auditor_searches_and_opens_a_request(chromium, live, keys, shots):
    base = live["base"]
    context, page, requested = _open(chromium, base, viewport={"width": 1280, "height": 900})
    _sign_in(page, base, keys.auditor)
    expect(page).to_have_url(f"{base}/console/freshness")  # the page asked for before signing in
    page.screenshot(path=str(shots / "console-freshness-board.png"), full_page=True)
    expect(page.locator("tbody tr").first.locator(".badge")).to_have_text("failing")
    _follow(page, page.get_by_role("link", name="Requests"))
    page.get_by_label("Task class").select_option("refund_decision")
    _follow(page, page.get_by_role("button", name="Search"))
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    _follow(page, rows.first.get_by_role("link"))
    expect(page).to_have_url(f"{base}/console/requests/req-1")
    expect(page.get_by_role("heading", name="Request req-1")).to_be_visible()
    expect(page.get_by_text("how many days to refund a kettle")).to_be_visible()
    expect(page.get_by_text("verifies", exact=True)).to_be_visible()
    expect(page.get_by_text("Refunds within 14 days of delivery.")).to_be_visible()
    page.screenshot(path=str(shots / "console-request.png"), full_page=True)
    _follow(page, page.get_by_role("link", name="Replay against today's content"))
    expect(page.get_by_role("heading", name="Replay of req-1")).to_be_visible()
    expect(page.get_by_role("heading", name="Kept (3)")).to_be_visible()
    context.close()
    assert requested and all(url.startswith(base + "/") for url in requested), requested


def test_an_owner_compares_snapshots_and_rolls_back(chromium, live, keys, shots):
    base = live["base"]
    context, page, requested = _open(chromium, base, viewport={"width": 1280, "height": 900})
    _sign_in(page, base, keys.support)
    _follow(page, page.get_by_role("link", name="Refund policy"))
    expect(page).to_have_url(f"{base}/console/sources/refunds")
    page.get_by_label("From (older)").select_option(live["v1"])
    page.get_by_label("To (newer)").select_option(live["v2"])
    _follow(page, page.get_by_role("button", name="Compare"))
    changes = page.locator(".changes")
    for change in ["added gift-cards", "removed faq", "changed policy"]:
        expect(changes).to_contain_text(change)
    _follow(page, page.get_by_role("link", name="show the text diff"))
    expect(page.locator(".l-removed")).to_have_text("- Refunds within 30 days of delivery.")
    expect(page.locator(".l-added")).to_have_text("+ Refunds within 14 days of delivery.")
    page.screenshot(path=str(shots / "console-source-diff.png"), full_page=True)
    _follow(page, page.get_by_role("link", name="Activate (roll back or forward)…"))
    expect(page.get_by_role("heading", name="Activate snapshot 2026-10?")).to_be_visible()
    _follow(page, page.get_by_role("button", name="Yes, activate"))
    expect(page.get_by_text("Done: the source was activated")).to_be_visible()
    expect(page.locator("tr.current td").first).to_contain_text("2026-10")
    context.close()
    assert all(url.startswith(base + "/") for url in requested), requested
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {keys.admin}"}) as api:
        assert api.get("/v1/sources/refunds").json()["active_snapshot_id"] == live["v1"]


def test_the_board_fits_a_phone_and_shows_focus(chromium, live, keys, shots):
    base = live["base"]
    context, page, requested = _open(chromium, base, viewport={"width": 390, "height": 844}, is_mobile=True)
    _sign_in(page, base, keys.reader)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(shots / "console-freshness-phone.png"), full_page=True)
    page.keyboard.press("Tab")  # the skip link comes first, and shows where focus is
    focused = page.evaluate("[document.activeElement.textContent, getComputedStyle(document.activeElement)"
                            ".outlineStyle]")
    assert focused == ["Skip to content", "solid"]
    context.close()
    assert all(url.startswith(base + "/") for url in requested), requested
