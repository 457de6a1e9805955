"""The operator's view: keys, sources and publishing from the command line."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from freshness.auth.keys import (
    KEY_PATTERN,
    bootstrap_admin_key,
    create_key,
    ensure_admin_key,
    revoke_key,
)
from freshness.db import make_engine, make_session_factory, session_scope
from freshness.vectorstore.edge import EdgeStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-kb"


def test_keys_create_prints_the_key_alone_on_the_last_line_and_stores_only_its_hash(cli, settings):
    result = cli("keys", "create", "--role", "publisher", "--owner", "support")
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert KEY_PATTERN.match(key)
    listing = cli("keys", "list")
    assert "publisher" in listing.output and "support" in listing.output
    assert key not in listing.output
    engine = make_engine(settings.resolved_database_url)
    with engine.connect() as conn:
        dumped = "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM api_keys"))
    engine.dispose()
    assert key not in dumped


def test_publisher_key_needs_an_owner(cli):
    result = cli("keys", "create", "--role", "publisher")
    assert result.exit_code == 1
    assert "owner" in result.output


def test_sources_add_publish_list_and_verify(cli):
    assert cli("sources", "add", "refund-policy", "--title", "Refund policy", "--owner", "support",
               "--class", "policy").exit_code == 0
    first = cli("publish", "refund-policy", str(EXAMPLES / "refund-policy" / "v1"), "--version", "v1")
    assert first.exit_code == 0, first.output
    assert "published snap_" in first.output
    again = cli("publish", "refund-policy", str(EXAMPLES / "refund-policy" / "v1"), "--version", "v1")
    assert "unchanged" in again.output
    second = cli("publish", "refund-policy", str(EXAMPLES / "refund-policy" / "v2"), "--version", "v2")
    assert "reused" in second.output and "published" in second.output
    listing = cli("sources", "list")
    assert "refund-policy" in listing.output and "v2" in listing.output and "fresh" in listing.output
    verified = cli("verify", "refund-policy")
    assert verified.exit_code == 0 and "verified" in verified.output


def test_html_is_reduced_to_text(cli, settings):
    cli("sources", "add", "catalog", "--title", "Catalog", "--owner", "catalog-team", "--class", "catalog")
    assert cli("publish", "catalog", str(EXAMPLES / "catalog")).exit_code == 0
    engine = make_engine(settings.resolved_database_url)
    with engine.connect() as conn:
        texts = " ".join(r[0] for r in conn.exec_driver_sql("SELECT text FROM chunks"))
        title = conn.exec_driver_sql("SELECT title FROM documents").scalar_one()
    engine.dispose()
    assert "Trail running shoe" in texts
    assert "analytics" not in texts and "padding" not in texts
    assert title == "Product catalog"


def test_errors_are_one_line_and_exit_non_zero(cli):
    unknown_class = cli("sources", "add", "x", "--title", "X", "--owner", "support", "--class", "nope")
    assert unknown_class.exit_code == 1
    assert "known classes" in unknown_class.output
    missing = cli("publish", "nope", str(EXAMPLES / "shipping-faq"))
    assert missing.exit_code == 1 and "no source" in missing.output
    assert cli("keys", "revoke", "key_nope").exit_code == 1


def test_publish_while_the_store_is_held_points_to_the_http_api(cli, settings):
    cli("sources", "add", "faq", "--title", "FAQ", "--owner", "support", "--class", "faq")
    held = EdgeStore(settings.store_path)
    try:
        result = cli("publish", "faq", str(EXAMPLES / "shipping-faq"))
    finally:
        held.close()
    assert result.exit_code == 1
    assert "--api-url" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_serve_refuses_to_start_on_an_invalid_policy(cli, settings):
    settings.policy_file.write_text('[source_classes.policy]\nmax_age = "soon"\n')
    result = cli("serve", "--no-migrate")
    assert result.exit_code == 1
    assert "source_classes.policy.max_age" in result.output


def test_first_admin_key_is_written_once_to_a_private_file(settings, clock):
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    with session_scope(sessions) as session:
        key = bootstrap_admin_key(session, settings.data_dir, clock.now())
    assert key and KEY_PATTERN.match(key)
    path = settings.data_dir / "admin.key"
    assert path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with session_scope(sessions) as session:
        assert bootstrap_admin_key(session, settings.data_dir, clock.now()) is None


def test_admin_key_from_the_environment_is_created_once_and_stays_revoked(settings, clock):
    value = "fk_" + "A" * 40
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    with session_scope(sessions) as session:
        assert ensure_admin_key(session, value, clock.now()) is True
        assert ensure_admin_key(session, value, clock.now()) is False
        create_key(session, "reader", "other", clock.now())
    with session_scope(sessions) as session:
        from sqlalchemy import select

        from freshness.auth.keys import hash_key
        from freshness.models import ApiKey

        admin_id = session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(value)))
        revoke_key(session, admin_id, clock.now())
    with session_scope(sessions) as session:
        assert ensure_admin_key(session, value, clock.now()) is False
        from freshness.auth.keys import authenticate
        from freshness.errors import Unauthorized

        with pytest.raises(Unauthorized):
            authenticate(session, f"Bearer {value}")


def test_audit_show_export_and_verify(cli, settings, clock, keys):
    from litestar.testing import TestClient

    from freshness.app import create_app
    from tests.conftest import Api, publish, register

    with TestClient(app=create_app(settings, clock=clock)) as client:
        admin = Api(client, keys.admin)
        register(admin, "refund-policy", "policy")
        snap = publish(admin, "refund-policy", [{"id": "r", "text": "Refunds within 30 days."}], version="v1")
        Api(client, keys.reader).post("/v1/retrieve", json={"query": "refund", "task_class": "refund_decision",
                                                            "request_id": "ticket-7"})
    shown = cli("audit", "show", "ticket-7")
    assert shown.exit_code == 0, shown.output
    assert "refund-policy" in shown.output and "v1" in shown.output and "ok" in shown.output
    exported = cli("audit", "export", "--snapshot", snap["snapshot"]["id"])
    assert [__import__("json").loads(line)["request_id"] for line in exported.output.splitlines()] == ["ticket-7"]
    assert "chain intact" in cli("audit", "verify").output
    assert cli("audit", "show", "nope").exit_code == 1
