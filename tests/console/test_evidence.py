"""SPEC §12 in the console: a request's outcome and replay, and trust by snapshot on the source page, for
auditors and admins only, as through the API."""

from __future__ import annotations

import html
import re

import pytest

from tests.console.conftest import sign_in


def _text(answer) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", answer.text)).split())


def test_the_request_page_shows_the_recorded_outcome(client, keys, admin, refunds):
    # req-late was asked with the admin key, which may record its outcome.
    stored = admin.post("/v1/retrievals/req-late/outcome", json={"outcome": "edited", "edit_seconds": 90,
                                                                  "note": "changed the days"})
    assert stored.status_code == 201, stored.text
    sign_in(client, keys.auditor)
    assert "recorded its outcome: edited after 1m 30s of editing" in _text(client.get("/console/requests/req-late"))
    assert "No outcome is recorded for this request." in _text(client.get("/console/requests/req-early"))


def test_a_replay_tells_what_changed_since(client, keys, refunds):
    sign_in(client, keys.auditor)
    page = client.get("/console/requests/req-early")
    assert 'href="/console/requests/req-early/replay"' in page.text
    replayed = _text(client.get("/console/requests/req-early/replay"))
    assert "Status then ok" in replayed
    assert "Dropped (2)" in replayed and "superseded" in replayed and "Refunds within 30 days." in replayed
    assert "Added" in replayed and "Refunds within 14 days." in replayed
    recorded = _text(client.get("/console/requests/req-early/replay?against=recorded"))
    assert "under the policy of the record" in recorded
    assert client.get("/console/requests/req-early/replay?against=tomorrow").status_code == 422


@pytest.mark.parametrize("role", ["reader", "support", "catalog", "auditor", "admin"])
def test_replay_and_trust_are_for_auditors_and_admins(client, keys, refunds, role):
    sign_in(client, getattr(keys, role))
    allowed = role in ("auditor", "admin")
    assert client.get("/console/requests/req-early/replay").status_code == (200 if allowed else 403)
    source = client.get("/console/sources/refunds").text
    assert ("Trust by snapshot" in source) == allowed


def test_the_source_page_shows_trust_by_snapshot(client, keys, admin, refunds):
    admin.post("/v1/retrievals/req-early/outcome", json={"outcome": "accepted"})
    sign_in(client, keys.auditor)
    page = client.get("/console/sources/refunds")
    words = _text(page)
    assert "Trust by snapshot" in words
    rows = re.findall(r'<td data-label="Snapshot"><a href="/console/snapshots/([^"]+)"', page.text)
    assert rows[:2] == [refunds["v2"], refunds["v1"]]  # newest first
    assert "100%" in words  # v1's one outcome was accepted
    assert "not worse" in words  # v2 has too few outcomes to be judged worse
    assert client.get("/console/sources/refunds?trust_since=2099-01-01T00:00:00Z").status_code == 422
