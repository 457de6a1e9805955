"""`freshness trust`, `freshness policy dry-run` and `freshness audit replay` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from litestar.testing import TestClient

from freshness.app import create_app
from tests.conftest import Api, publish, register
from tests.trust.conftest import ask, tell

ROOT = Path(__file__).resolve().parents[2]
POLICY = (ROOT / "config" / "policy.toml").read_text()


def _answered(admin: Api, reader: Api) -> None:
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])
    ask(reader, "q1")
    ask(reader, "q2", "refund_decision")
    tell(reader, "q1", "edited", edit_seconds=20)


def test_trust_prints_figures_and_json(cli, admin, reader):
    _answered(admin, reader)
    shown = cli("trust", "--since", "1d")
    assert shown.exit_code == 0, shown.output
    assert "general_question" in shown.output and "refund_decision" in shown.output
    body = json.loads(cli("trust", "--since", "1d", "--by", "source", "--json").output)
    [group] = body["groups"]
    assert (group["source_id"], group["retrievals"], group["outcomes"], group["correction_burden"]) == (
        "refund-policy", 2, 1, 20.0)
    refused = cli("trust", "--since", "soon")
    assert refused.exit_code == 1 and "since" in refused.output


def test_policy_dry_run_reads_a_candidate_file(cli, admin, reader, tmp_path):
    _answered(admin, reader)
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(POLICY.replace('min_fresh_results = 1\nsource_classes = ["policy", "catalog"]',
                                        'min_fresh_results = 2\nsource_classes = ["policy", "catalog"]', 1))
    body = json.loads(cli("policy", "dry-run", str(candidate), "--since", "1d", "--json").output)
    refund = {c["task_class"]: c for c in body["task_classes"]}["refund_decision"]
    assert refund["would_be_insufficient_context"] == 1 and refund["examples"]["insufficient_context"] == ["q2"]
    table = cli("policy", "dry-run", str(candidate), "--since", "1d")
    assert table.exit_code == 0 and "refund_decision" in table.output

    candidate.write_text(POLICY.replace('warn_age = "5d"', 'warn_age = "9d"', 1))
    refused = cli("policy", "dry-run", str(candidate), "--since", "1d")
    assert refused.exit_code == 1 and "source_classes.policy.warn_age" in refused.output


def test_replay_while_serve_holds_the_store_points_to_the_api(cli, admin, reader):
    _answered(admin, reader)
    refused = cli("audit", "replay", "q1")
    assert refused.exit_code == 1 and "held by the running service" in refused.output
    assert "FRESHNESS_API_URL" in refused.output


def test_replay_offline(cli, settings, clock, keys):
    with TestClient(app=create_app(settings, clock=clock)) as client:
        admin = Api(client, keys.admin)
        _answered(admin, admin.as_key(keys.reader))
    body = json.loads(cli("audit", "replay", "q2", "--policy", "recorded", "--json").output)
    assert body["status_recorded"] == body["status_now"] == "ok"
    assert [k["document_id"] for k in body["kept"]] == ["refunds.md"] and body["dropped"] == []
    shown = cli("audit", "replay", "q2")
    assert shown.exit_code == 0 and "kept" in shown.output
    missing = cli("audit", "replay", "nope")
    assert missing.exit_code == 1 and "nope" in missing.output
