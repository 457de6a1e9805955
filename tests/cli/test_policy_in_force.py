"""An operator edits the policy file: the offline commands judge by the file, and say when the service does not yet."""

from __future__ import annotations

import json
from datetime import timedelta

from litestar.testing import TestClient

from freshness.app import create_app
from tests.conftest import Api, publish, register


def _serve_once(settings, clock, keys) -> None:
    """Six days ago the service started on the policy file as it is now, and the refund policy was published."""
    clock.set(clock.now() - timedelta(days=6))
    with TestClient(app=create_app(settings, clock=clock)) as client:
        admin = Api(client, keys.admin)
        register(admin, "refund-policy", "policy")
        publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days."}])


def test_status_judges_by_the_edited_file_and_notes_that_the_service_has_not_loaded_it(cli, settings, clock, keys):
    _serve_once(settings, clock, keys)
    assert "note:" not in cli("status").stderr

    text = settings.policy_file.read_text()
    assert json.loads(cli("status", "--json").stdout)["items"][0]["status"] == "warn"  # past 5 of 7 days

    settings.policy_file.write_text(
        text.replace('max_age = "7d"\nwarn_age = "5d"', 'max_age = "30d"\nwarn_age = "21d"'))
    result = cli("status", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["items"][0]["status"] == "fresh"  # the file's max age, not the loaded one's
    assert "has not loaded this policy file yet" in result.stderr
    assert report["policy_version"] in result.stderr


def test_a_file_that_drops_a_class_in_use_is_refused_as_the_service_would(cli, settings, clock, keys):
    _serve_once(settings, clock, keys)
    text = settings.policy_file.read_text()
    start = text.index("[source_classes.policy]")
    without_policy_class = text[:start] + text[text.index("[source_classes.catalog]"):]
    settings.policy_file.write_text(without_policy_class.replace('source_classes = ["policy", "catalog"]',
                                                                 'source_classes = ["catalog"]'))

    for command in (("status",), ("sources", "list")):
        result = cli(*command)
        assert result.exit_code == 1, command
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "source_classes.policy: the class is still used by live sources" in lines[0]
