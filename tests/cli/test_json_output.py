"""A script drives the command line: every result it asks for with `--json` parses, and `--version` answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from litestar.testing import TestClient

import freshness
from freshness.app import create_app
from tests.conftest import Api

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-kb"


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_an_operators_session_in_json(cli, settings, clock):
    created = _json(cli("keys", "create", "--role", "reader", "--name", "assistant", "--json"))
    assert created["role"] == "reader" and created["key"].startswith("fk_") and created["revoked_at"] is None
    listed = _json(cli("keys", "list", "--json"))
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]

    added = _json(cli("sources", "add", "refund-policy", "--title", "Refund policy", "--owner", "support",
                      "--class", "policy", "--json"))
    assert added["id"] == "refund-policy" and added["active_snapshot_id"] is None
    published = _json(cli("publish", "refund-policy", str(EXAMPLES / "refund-policy" / "v1"), "--version", "v1",
                          "--json"))
    assert published["changed"] is True and published["snapshot"]["version"] == "v1"
    verified = _json(cli("verify", "refund-policy", "--json"))
    assert verified["id"] == published["snapshot"]["id"] and verified["state"] == "active"
    sources = _json(cli("sources", "list", "--json"))
    assert [(s["id"], s["freshness"]["status"]) for s in sources] == [("refund-policy", "fresh")]
    report = _json(cli("status", "--json"))
    assert report["counts"]["fresh"] == 1 and report["policy_version"].startswith("sha256:")
    assert _json(cli("jobs", "--json")) == []
    optimized = _json(cli("store", "optimize", "--json"))
    assert optimized["optimized"] is True and optimized["unindexed_after"] == 0

    with TestClient(app=create_app(settings, clock=clock)) as client:
        answer = Api(client, created["key"]).post("/v1/retrieve", json={
            "query": "refund", "task_class": "refund_decision", "request_id": "ticket-7"})
        assert answer.status_code == 200, answer.text
    shown = _json(cli("audit", "show", "ticket-7", "--json"))
    assert shown["request_id"] == "ticket-7" and shown["results"]
    chain = _json(cli("audit", "verify", "--json"))
    assert chain["ok"] is True and chain["records_checked"] == 1
    checkpoint = _json(cli("audit", "checkpoint", "--json"))
    assert checkpoint["seq"] == 1

    revoked = _json(cli("keys", "revoke", created["id"], "--json"))
    assert revoked["id"] == created["id"] and revoked["revoked_at"]


def test_a_broken_chain_is_reported_in_json_and_still_exits_1(cli, settings, keys, clock):
    from sqlalchemy import text

    from freshness.db import make_engine
    from tests.conftest import publish, register

    with TestClient(app=create_app(settings, clock=clock)) as client:
        admin = Api(client, keys.admin)
        register(admin, "faq", "faq")
        publish(admin, "faq", [{"id": "ship.md", "text": "Parcels leave within two working days."}])
        for request_id in ("first", "second"):
            Api(client, keys.reader).post("/v1/retrieve", json={"query": "parcels", "task_class": "general_question",
                                                                "request_id": request_id})
    engine = make_engine(settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE retrievals SET task_class = 'order_status' WHERE request_id = 'second'"))
    engine.dispose()

    result = cli("audit", "verify", "--json")

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["first_bad"]["request_id"] == "second"


def test_version(cli):
    assert cli("--version").stdout == f"freshness {freshness.__version__}\n"
    module = subprocess.run([sys.executable, "-m", "freshness.cli", "--version"], capture_output=True, text=True,
                            check=True)
    assert module.stdout == f"freshness {freshness.__version__}\n"
