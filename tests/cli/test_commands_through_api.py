"""The same commands while `serve` runs and holds the store: with FRESHNESS_API_URL and FRESHNESS_KEY they go
through the service, print what they print offline, and end in one line on the service's refusals."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from freshness.app import create_app
from freshness.cli import main
from freshness.client import FreshnessClient
from tests.client.live import serving_app


@pytest.fixture
def service_url(cli_env, clock, keys) -> Iterator[str]:
    with serving_app(create_app(cli_env, clock=clock)) as url:
        yield url


@pytest.fixture
def as_key(service_url):
    """Run `freshness ...` with FRESHNESS_API_URL set and this key in FRESHNESS_KEY."""
    runner = CliRunner()

    def run_as(key: str | None):
        env = {"FRESHNESS_API_URL": service_url, "FRESHNESS_KEY": key}

        def run(*args: str):
            return runner.invoke(main, list(args), env=env, catch_exceptions=False)

        return run

    return run_as


def _ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def test_an_owner_manages_sources_and_snapshots_through_the_service(as_key, keys, service_url):
    owner = as_key(keys.support)
    added = json.loads(_ok(owner("sources", "add", "faq", "--title", "FAQ", "--owner", "support", "--class", "faq",
                                 "--json")))
    assert added["id"] == "faq" and added["active_snapshot"] is None
    with FreshnessClient(service_url, keys.support) as client:
        first = client.publish("faq", [{"id": "ship.md", "text": "Orders ship within two days."}], version="v1")
        second = client.publish("faq", [{"id": "ship.md", "text": "Orders ship within one day."}], version="v2")

    history = json.loads(_ok(owner("snapshots", "list", "faq", "--json")))
    assert [s["id"] for s in history] == [second.snapshot.id, first.snapshot.id]
    assert "superseded" in _ok(owner("snapshots", "list", "faq"))
    assert json.loads(_ok(owner("snapshots", "show", first.snapshot.id, "--json")))["documents"][0]["id"] == "ship.md"
    assert "ship.md" in _ok(owner("snapshots", "show", first.snapshot.id))

    assert f"{first.snapshot.id} of faq (version v1) is active" in _ok(owner("activate", first.snapshot.id))
    listed = json.loads(_ok(owner("sources", "list", "--json")))
    assert [(s["id"], s["active_snapshot"]["version"]) for s in listed] == [("faq", "v1")]

    report = json.loads(_ok(owner("status", "--json")))
    assert [item["source_id"] for item in report["items"]] == ["faq"] and report["counts"]["fresh"] == 1

    assert "retired faq" in _ok(owner("sources", "retire", "faq"))
    assert json.loads(_ok(owner("sources", "list", "--include-retired", "--json")))[0]["retired_at"]


def test_retrieve_goes_through_the_service_that_holds_the_store(as_key, keys, service_url):
    admin = as_key(keys.admin)
    _ok(admin("sources", "add", "faq", "--title", "FAQ", "--owner", "support", "--class", "faq"))
    with FreshnessClient(service_url, keys.admin) as client:
        client.publish("faq", [{"id": "ship.md", "text": "Orders ship within two days."}], version="v1")

    reader = as_key(keys.reader)
    answer = json.loads(_ok(reader("retrieve", "when do orders ship", "--task-class", "general_question",
                                   "--source", "faq", "--request-id", "cli-1", "--json")))
    assert answer["request_id"] == "cli-1" and answer["results"][0]["snapshot_version"] == "v1"
    assert "request cli-" in _ok(reader("retrieve", "orders", "--task-class", "general_question",
                                        "--request-id", "cli-2"))

    auditor = as_key(keys.auditor)
    record = json.loads(_ok(auditor("audit", "show", "cli-1", "--json")))
    assert record["request_id"] == "cli-1" and record["principal"]["role"] == "reader"
    assert "cli-1" in _ok(auditor("audit", "show", "cli-1"))
    lines = _ok(auditor("audit", "export")).splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == ["cli-2", "cli-1"]
    rows = list(csv.DictReader(io.StringIO(_ok(auditor("audit", "export", "--format", "csv", "--status", "ok")))))
    assert [row["request_id"] for row in rows] == ["cli-2", "cli-1"]
    assert "ok: 2 records" in _ok(auditor("audit", "verify"))
    checkpoint = json.loads(_ok(auditor("audit", "checkpoint", "--json")))
    assert checkpoint["seq"] == 2


def test_policy_through_the_service(as_key, keys):
    admin = as_key(keys.admin)
    shown = json.loads(_ok(admin("policy", "show", "--json")))
    assert shown["version"].startswith("sha256:")
    reloaded = json.loads(_ok(admin("policy", "reload", "--json")))
    assert reloaded["changed"] is False and reloaded["previous_version"] == shown["version"]
    assert "unchanged" in _ok(admin("policy", "reload"))


def test_refusals_end_in_one_line(as_key, keys):
    reader = as_key(keys.reader)
    refused = reader("sources", "add", "faq", "--title", "FAQ", "--owner", "support", "--class", "faq")
    assert refused.exit_code == 1 and refused.output.count("\n") == 1 and "error:" in refused.output
    assert reader("policy", "reload").exit_code == 1
    missing = reader("snapshots", "show", "snap_missing")
    assert missing.exit_code == 1 and "snap_missing" in missing.output
    unknown = reader("retrieve", "x", "--task-class", "no_such_task")
    assert unknown.exit_code == 1 and "no_such_task" in unknown.output

    keyless = as_key(None)("policy", "show")
    assert keyless.exit_code == 1 and "FRESHNESS_KEY" in keyless.output
