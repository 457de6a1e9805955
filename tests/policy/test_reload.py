"""An operator changes the policy file: a valid one takes effect, an invalid one is refused and the old kept."""

from __future__ import annotations

from tests.conftest import register


def test_reload_applies_a_valid_policy_and_keeps_the_old_one_otherwise(admin, keys, policy_file):
    before = admin.get("/v1/policy").json()
    assert before["version"].startswith("sha256:")
    assert before["task_classes"]["refund_decision"]["criticality"] == "critical"
    register(admin, "catalog", "catalog", owner="catalog-team")

    policy_file.write_text(policy_file.read_text().replace('max_age = "7d"', 'max_age = "10d"'))
    changed = admin.post("/v1/policy/reload")
    assert changed.status_code == 200, changed.text
    assert changed.json()["changed"] is True and changed.json()["version"] != before["version"]
    assert admin.get("/v1/policy").json()["source_classes"]["policy"]["max_age_seconds"] == 10 * 86400

    good = policy_file.read_text()
    policy_file.write_text(good.replace('on_stale = "reject"', 'on_stale = "flag"', 1))
    refused = admin.post("/v1/policy/reload")
    assert refused.status_code == 422
    assert "task_classes.refund_decision.on_stale" in refused.json()["detail"]
    assert admin.get("/v1/policy").json()["version"] == changed.json()["version"]

    # Dropping a class that a registered source still uses is refused too.
    without_catalog = good.replace("[source_classes.catalog]", "[source_classes.unused]")
    without_catalog = without_catalog.replace('"catalog"', '"unused"').replace("catalog =", "unused =")
    policy_file.write_text(without_catalog)
    dropped = admin.post("/v1/policy/reload")
    assert dropped.status_code == 422
    assert "catalog" in dropped.json()["detail"]
    assert admin.get("/v1/policy").json()["version"] == changed.json()["version"]
    assert admin.as_key(keys.reader).post("/v1/policy/reload").status_code == 403
