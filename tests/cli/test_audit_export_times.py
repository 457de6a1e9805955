"""An auditor exports the answers of a period: times read as the API reads them, or as `7d` back from now."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import publish, register


@pytest.fixture
def answered(admin, keys, clock) -> None:
    """One answer given ten days ago, one given now."""
    now = clock.now()
    clock.set(now - timedelta(days=10))
    register(admin, "shipping-faq", "faq")
    publish(admin, "shipping-faq", [{"id": "ship.md", "text": "Parcels leave within two working days."}])
    reader = admin.as_key(keys.reader)
    for request_id, moment in (("ten-days-ago", now - timedelta(days=10)), ("today", now)):
        clock.set(moment)
        response = reader.post("/v1/retrieve", json={"query": "parcels", "task_class": "general_question",
                                                     "request_id": request_id})
        assert response.status_code == 200, response.text


def _exported(result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [json.loads(line)["request_id"] for line in result.stdout.splitlines()]


def test_a_garbage_since_is_one_clear_line_on_stderr(cli, answered):
    result = cli("audit", "export", "--since", "garbage")

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--since must be an RFC 3339 timestamp such as 2026-11-27T10:00:00Z" in lines[0]
    assert "ValueError" not in lines[0]


def test_a_time_without_a_zone_is_refused_with_the_apis_words(cli, answered, admin, keys):
    api = admin.as_key(keys.auditor).get("/v1/audit/retrievals", params={"since": "2026-11-27T10:00:00"})
    assert api.status_code == 422
    assert api.json()["detail"] == "since needs a time zone (Z or +00:00)"

    result = cli("audit", "export", "--since", "2026-11-27T10:00:00")

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: --since needs a time zone (Z or +00:00)"


def test_since_and_until_take_rfc_3339_with_z_or_an_offset(cli, answered, clock):
    five_days_ago = clock.now() - timedelta(days=5)
    zulu = five_days_ago.strftime("%Y-%m-%dT%H:%M:%SZ")
    in_paris = five_days_ago.astimezone(ZoneInfo("Europe/Paris")).isoformat()

    assert _exported(cli("audit", "export", "--since", zulu)) == ["today"]
    assert _exported(cli("audit", "export", "--since", in_paris)) == ["today"]
    assert _exported(cli("audit", "export", "--until", zulu)) == ["ten-days-ago"]


def test_a_duration_counts_back_from_now(cli, answered):
    assert _exported(cli("audit", "export", "--since", "7d")) == ["today"]
    assert _exported(cli("audit", "export", "--until", "P1W")) == ["ten-days-ago"]
    assert _exported(cli("audit", "export", "--since", "30d")) == ["today", "ten-days-ago"]
