"""The evidence calls through the Python client (sync and async) and the CLI against a running service."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from freshness.app import create_app
from freshness.client import AsyncFreshnessClient, Conflict, Forbidden, FreshnessClient, InvalidInput
from tests.client.live import serving_app

POLICY = (Path(__file__).resolve().parents[2] / "config" / "policy.toml").read_text()


@pytest.fixture
def service_url(settings, clock, keys) -> Iterator[str]:
    with serving_app(create_app(settings, clock=clock)) as url:
        yield url


def test_an_app_reports_outcomes_and_an_auditor_reads_trust_and_replays(service_url, keys):
    with FreshnessClient(service_url, keys.admin) as admin, FreshnessClient(service_url, keys.reader) as app, \
            FreshnessClient(service_url, keys.auditor) as auditor:
        admin.register_source("refund-policy", title="Refunds", owner="support", source_class="policy")
        admin.publish("refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])
        answer = app.retrieve("refund", "general_question", request_id="c1")
        stored = app.record_outcome(answer.request_id, "edited", edit_seconds=12.5, note="dates fixed")
        assert (stored.outcome, stored.edit_seconds, stored.task_class) == ("edited", 12.5, "general_question")
        with pytest.raises(Conflict):
            app.record_outcome("c1", "accepted")
        with pytest.raises(Forbidden):
            auditor.record_outcome("c1", "accepted")

        report = auditor.trust(since="1d", by="source")
        assert [(g.source_id, g.retrievals, g.correction_burden) for g in report.groups] == [("refund-policy", 1,
                                                                                              12.5)]
        replayed = auditor.replay("c1", policy="recorded")
        assert replayed.status_now == "ok" and [k.document_id for k in replayed.kept] == ["refunds.md"]

        judged = admin.policy_dry_run(POLICY, since="1d")
        assert judged.records == 1 and judged.task_classes[0].unchanged == 1
        with pytest.raises(InvalidInput):
            admin.policy_dry_run(POLICY.replace('max_age = "7d"', 'max_age = "seven days"'), since="1d")


def test_the_async_client_sends_the_same_calls(service_url, keys):
    async def scenario() -> None:
        async with AsyncFreshnessClient(service_url, keys.admin) as admin:
            await admin.register_source("faq", title="FAQ", owner="support", source_class="faq")
            await admin.publish("faq", [{"id": "ship.md", "text": "Orders ship within two days."}])
            await admin.retrieve("ship", "general_question", request_id="a1")
            assert (await admin.record_outcome("a1", "accepted")).outcome == "accepted"
            assert (await admin.trust(since="1d")).groups[0].trusted_completion == 1.0
            assert (await admin.replay("a1")).status_now == "ok"
            assert (await admin.policy_dry_run(POLICY, since="1d")).records == 1

    asyncio.run(scenario())


def test_the_commands_go_through_the_service_when_told_to(cli, service_url, keys, monkeypatch, tmp_path):
    with FreshnessClient(service_url, keys.admin) as admin:
        admin.register_source("faq", title="FAQ", owner="support", source_class="faq")
        admin.publish("faq", [{"id": "ship.md", "text": "Orders ship within two days."}])
        admin.retrieve("ship", "general_question", request_id="a1")
    monkeypatch.setenv("FRESHNESS_API_URL", service_url)
    monkeypatch.setenv("FRESHNESS_KEY", keys.auditor)
    # The service holds the embedded store: only through it can the replay search.
    replayed = cli("audit", "replay", "a1", "--json")
    assert replayed.exit_code == 0, replayed.output
    assert json.loads(replayed.output)["status_now"] == "ok"
    assert json.loads(cli("trust", "--since", "1d", "--json").output)["groups"][0]["retrievals"] == 1
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(POLICY)
    refused = cli("policy", "dry-run", str(candidate), "--since", "1d")
    assert refused.exit_code == 1 and "admin" in refused.output  # an auditor key may not
    monkeypatch.setenv("FRESHNESS_KEY", keys.admin)
    assert json.loads(cli("policy", "dry-run", str(candidate), "--since", "1d", "--json").output)["records"] == 1
