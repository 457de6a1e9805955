"""An operator drops a source class from the policy: refused while a live source uses it, not for retired ones."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import register


def _drop_faq(policy_file: Path) -> None:
    text = policy_file.read_text()
    start = text.index("[source_classes.faq]")
    text = text[:start] + text[text.index("[task_classes.refund_decision]"):]
    policy_file.write_text(text.replace('source_classes = ["catalog", "faq"]', 'source_classes = ["catalog"]'))


def test_a_class_used_only_by_retired_sources_can_be_dropped(admin, policy_file):
    register(admin, "old-faq", "faq")
    assert admin.delete("/v1/sources/old-faq").status_code == 200

    _drop_faq(policy_file)
    reloaded = admin.post("/v1/policy/reload")

    assert reloaded.status_code == 200, reloaded.text
    assert "faq" not in reloaded.json()["source_classes"]
    retired = admin.get("/v1/sources/old-faq").json()
    assert retired["source_class"] == "faq"  # kept as history
    assert retired["freshness"]["status"] == "retired"


def test_a_class_a_live_source_uses_is_kept_even_beside_retired_ones(admin, policy_file):
    register(admin, "old-faq", "faq")
    assert admin.delete("/v1/sources/old-faq").status_code == 200
    register(admin, "shipping-faq", "faq")
    version = admin.get("/v1/policy").json()["version"]

    _drop_faq(policy_file)
    refused = admin.post("/v1/policy/reload")

    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("policy source_classes.faq: the class is still used by live sources")
    assert admin.get("/v1/policy").json()["version"] == version
