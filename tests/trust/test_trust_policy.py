"""The policy's optional [trust] table: validated with the rest of the file, part of the version."""

from __future__ import annotations

from pathlib import Path

import pytest

from freshness.errors import PolicyInvalid
from freshness.policy.model import TrustThresholds
from freshness.policy.parse import parse_policy

ROOT = Path(__file__).resolve().parents[2]
BASE = (ROOT / "config" / "policy.toml").read_text()


def test_without_the_table_the_defaults_hold_and_the_version_is_unchanged() -> None:
    policy = parse_policy(BASE)
    assert policy.trust == TrustThresholds(min_outcomes=20, max_burden_increase=0.5, max_fallback_increase=0.05)
    assert "trust" not in policy.canonical


def test_the_table_sets_the_thresholds_and_changes_the_version() -> None:
    plain = parse_policy(BASE)
    tuned = parse_policy(BASE + "\n[trust]\nmin_outcomes = 5\nmax_burden_increase = 0.25\n")
    assert tuned.trust == TrustThresholds(min_outcomes=5, max_burden_increase=0.25, max_fallback_increase=0.05)
    assert tuned.version != plain.version
    assert tuned.canonical["trust"] == {"min_outcomes": 5, "max_burden_increase": 0.25,
                                        "max_fallback_increase": 0.05}
    assert parse_policy(BASE + "\n[trust]\nmax_fallback_increase = 0\n").trust.max_fallback_increase == 0.0
    # Zero: every snapshot is compared with its predecessor, however few outcomes either has.
    assert parse_policy(BASE + "\n[trust]\nmin_outcomes = 0\n").trust.min_outcomes == 0


@pytest.mark.parametrize(("table", "key"), [
    ("min_outcomes = -1", "trust.min_outcomes"),
    ("min_outcomes = 2.5", "trust.min_outcomes"),
    ("min_outcomes = true", "trust.min_outcomes"),
    ("max_burden_increase = -0.1", "trust.max_burden_increase"),
    ("max_burden_increase = nan", "trust.max_burden_increase"),
    ("max_burden_increase = inf", "trust.max_burden_increase"),
    ("max_burden_increase = \"half\"", "trust.max_burden_increase"),
    ("max_fallback_increase = 1.5", "trust.max_fallback_increase"),
    ("max_fallbak_increase = 0.1", "trust.max_fallbak_increase"),
])
def test_a_bad_value_is_refused_naming_its_key(table: str, key: str) -> None:
    with pytest.raises(PolicyInvalid) as refused:
        parse_policy(BASE + f"\n[trust]\n{table}\n")
    assert refused.value.extra["key"] == key
    assert refused.value.detail.startswith(f"policy {key}:")


def test_trust_must_be_a_table() -> None:
    with pytest.raises(PolicyInvalid) as refused:
        parse_policy("trust = 3\n" + BASE)
    assert refused.value.extra["key"] == "trust"


def test_a_reload_refuses_a_bad_trust_table_and_keeps_the_policy(admin, policy_file: Path) -> None:
    before = admin.get("/v1/policy").json()["version"]
    policy_file.write_text(BASE + "\n[trust]\nmin_outcomes = -1\n")
    refused = admin.post("/v1/policy/reload")
    assert refused.status_code == 422
    assert "trust.min_outcomes" in refused.json()["detail"]
    assert admin.get("/v1/policy").json()["version"] == before
