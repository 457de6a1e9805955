"""An operator at the command line, offline (in-process, on the database and the store): retrieve, the
snapshot history, a roll back, a retirement, the policy, and the audit export in both formats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from freshness.vectorstore.edge import EdgeStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-kb"


def _published(cli) -> None:
    assert cli("sources", "add", "refund-policy", "--title", "Refund policy", "--owner", "support",
               "--class", "policy").exit_code == 0
    for version in ("v1", "v2"):
        done = cli("publish", "refund-policy", str(EXAMPLES / "refund-policy" / version), "--version", version)
        assert done.exit_code == 0, done.output


def test_retrieve_is_served_and_recorded_in_process(cli):
    _published(cli)
    shown = cli("retrieve", "can I get a refund", "--task-class", "refund_decision", "--top-k", "2",
                "--request-id", "desk-1")
    assert shown.exit_code == 0, shown.output
    assert "request desk-1  status ok" in shown.output and "refund-policy" in shown.output

    answer = json.loads(cli("retrieve", "refund", "--task-class", "refund_decision", "--source", "refund-policy",
                            "--json").output)
    assert answer["status"] == "ok" and 1 <= len(answer["results"]) <= 5
    assert {r["snapshot_version"] for r in answer["results"]} == {"v2"}
    record = json.loads(cli("audit", "show", "desk-1", "--json").output)
    assert record["request_id"] == "desk-1" and record["top_k"] == 2

    unknown = cli("retrieve", "refund", "--task-class", "no_such_task")
    assert unknown.exit_code == 1 and "no_such_task" in unknown.output
    too_many = cli("retrieve", "refund", "--task-class", "refund_decision", "--top-k", "500")
    assert too_many.exit_code == 1 and "top_k" in too_many.output


def test_retrieve_says_in_one_line_that_serve_holds_the_store(cli, settings):
    _published(cli)
    held = EdgeStore(settings.store_path)
    try:
        result = cli("retrieve", "refund", "--task-class", "refund_decision")
    finally:
        held.close()
    assert result.exit_code == 1
    assert "FRESHNESS_API_URL" in result.output and len(result.output.strip().splitlines()) == 1


def test_snapshot_history_detail_and_a_roll_back(cli):
    _published(cli)
    history = json.loads(cli("snapshots", "list", "refund-policy", "--json").output)
    assert [s["version"] for s in history] == ["v2", "v1"] and [s["state"] for s in history] == ["active",
                                                                                                 "superseded"]
    table = cli("snapshots", "list", "refund-policy")
    assert history[0]["id"] in table.output and "superseded" in table.output

    detail = json.loads(cli("snapshots", "show", history[1]["id"], "--json").output)
    assert detail["version"] == "v1" and detail["documents"] and detail["documents"][0]["content_hash"]
    assert detail["documents"][0]["id"] in cli("snapshots", "show", history[1]["id"]).output

    rolled = cli("activate", history[1]["id"], "--json")
    assert rolled.exit_code == 0, rolled.output
    assert json.loads(rolled.output)["state"] == "active"
    assert "v1" in cli("sources", "list").output
    wrong = cli("activate", history[0]["id"], "--source", "another-source")
    assert wrong.exit_code == 1 and "another-source" in wrong.output
    assert cli("snapshots", "show", "snap_missing").exit_code == 1


def test_a_retired_source_serves_nothing_and_stays_listed(cli):
    _published(cli)
    retired = cli("sources", "retire", "refund-policy", "--json")
    assert retired.exit_code == 0, retired.output
    assert json.loads(retired.output)["retired_at"]
    answer = json.loads(cli("retrieve", "refund", "--task-class", "refund_decision", "--json").output)
    assert answer["status"] == "insufficient_context" and answer["results"] == []
    assert json.loads(cli("sources", "list", "--json").output) == []
    assert "retired" in cli("sources", "list", "--include-retired").output
    assert cli("sources", "retire", "no-such-source").exit_code == 1


def test_policy_show_and_an_offline_reload_that_checks_the_file(cli, settings):
    shown = json.loads(cli("policy", "show", "--json").output)
    assert shown["version"].startswith("sha256:") and "refund_decision" in shown["task_classes"]
    assert "refund_decision" in cli("policy", "show").output

    checked = cli("policy", "reload", "--json")
    assert json.loads(checked.output) == {"reloaded": False, "version": shown["version"]}
    assert "FRESHNESS_API_URL" in cli("policy", "reload").output

    settings.policy_file.write_text(settings.policy_file.read_text().replace('max_age = "7d"', 'max_age = "7 days"'))
    refused = cli("policy", "reload")
    assert refused.exit_code == 1 and "7 days" in refused.output


def test_audit_export_as_json_lines_and_as_the_api_csv(cli):
    _published(cli)
    for n in range(3):
        assert cli("retrieve", "refund", "--task-class", "general_question", "--request-id", f"q-{n}").exit_code == 0
    lines = cli("audit", "export").output.splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == ["q-2", "q-1", "q-0"]
    assert cli("audit", "export", "--format", "jsonl").output.splitlines() == lines

    rows = list(csv.DictReader(io.StringIO(cli("audit", "export", "--format", "csv").output)))
    assert [row["request_id"] for row in rows] == ["q-2", "q-1", "q-0"]
    assert list(rows[0]) == ["request_id", "served_at", "task_class", "status", "policy_version", "results",
                             "rejected", "snapshot_ids", "record_hash"]
    assert rows[0]["record_hash"] == json.loads(lines[0])["record_hash"]
    assert cli("audit", "export", "--format", "xml").exit_code == 2


def test_db_upgrade_prints_json_too(cli):
    done = cli("db", "upgrade", "--json")
    assert done.exit_code == 0 and json.loads(done.output)["up_to_date"] is True
