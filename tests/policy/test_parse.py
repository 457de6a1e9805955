"""An operator writes the policy file. A good one loads with a version an auditor can cite;
a bad one is refused with a message that names the key to fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from freshness.errors import PolicyInvalid
from freshness.policy.model import Criticality, OnStale, SourceClass
from freshness.policy.parse import load_policy_file, parse_policy

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "policy.toml"
HOUR, DAY = 3_600, 86_400

# The example of SPEC §5, the starting point that each invalid case breaks in one place.
GOOD = """
[source_classes.policy]
max_age = "7d"
warn_age = "5d"

[source_classes.catalog]
max_age = "24h"

[task_classes.refund_decision]
criticality = "critical"
on_stale = "reject"
min_fresh_results = 1
source_classes = ["policy", "catalog"]
max_age = { catalog = "6h" }

[task_classes.general_question]
criticality = "low"
on_stale = "flag"
"""


def refused(text: str) -> PolicyInvalid:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(text)
    return caught.value


# -- the shipped policy ------------------------------------------------------------------------


def test_the_shipped_policy_file_loads_with_its_classes() -> None:
    policy = load_policy_file(SHIPPED)

    assert set(policy.source_classes) == {"policy", "catalog", "faq"}
    assert set(policy.task_classes) == {"refund_decision", "order_status", "general_question"}
    assert policy.source_classes["catalog"] == SourceClass("catalog", max_age=24 * HOUR, warn_age=12 * HOUR)
    refund = policy.task_classes["refund_decision"]
    assert refund.criticality is Criticality.CRITICAL
    assert refund.on_stale is OnStale.REJECT
    assert refund.source_classes == ("catalog", "policy")
    assert refund.max_age == {"catalog": 6 * HOUR}
    assert policy.task_classes["general_question"].on_stale is OnStale.FLAG
    assert policy.source_text == SHIPPED.read_text(encoding="utf-8")


def test_a_missing_policy_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(PolicyInvalid, match="nowhere.toml"):
        load_policy_file(missing)


# -- the version ---------------------------------------------------------------------------------


def test_the_version_is_a_sha256_of_the_policy() -> None:
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", parse_policy(GOOD).version)


def test_reformatting_commenting_and_reordering_keep_the_version() -> None:
    # An auditor compares versions; cosmetic edits of the file must not look like a policy change.
    reworded = """
# Our support assistant's policy, reformatted and reordered.
[task_classes.general_question]
on_stale   =   "flag"     # flagged, not rejected
criticality = "low"

[source_classes.catalog]
max_age = "PT24H"         # same as 24h

[task_classes.refund_decision]
max_age = { catalog = "360m" }
source_classes = ["catalog", "policy", "catalog"]
min_fresh_results = 1
on_stale = "reject"
criticality = "critical"
description = "descriptions are documentation, not policy"

[source_classes.policy]
warn_age = "P5D"
max_age = "1w"
"""
    assert parse_policy(reworded).version == parse_policy(GOOD).version


def test_changing_a_max_age_changes_the_version() -> None:
    tighter = GOOD.replace('max_age = "24h"', 'max_age = "12h"')
    assert tighter != GOOD
    assert parse_policy(tighter).version != parse_policy(GOOD).version


def test_changing_a_task_override_changes_the_version() -> None:
    tighter = GOOD.replace('catalog = "6h"', 'catalog = "5h"')
    assert parse_policy(tighter).version != parse_policy(GOOD).version


def test_the_canonical_form_holds_ages_in_seconds() -> None:
    canonical = parse_policy(GOOD).canonical
    assert canonical["source_classes"]["policy"] == {"max_age": 7 * DAY, "warn_age": 5 * DAY}
    assert canonical["task_classes"]["refund_decision"]["max_age"] == {"catalog": 6 * HOUR}


# -- defaults ------------------------------------------------------------------------------------


def test_a_critical_task_class_rejects_and_needs_one_fresh_result_by_default() -> None:
    policy = parse_policy(GOOD + '\n[task_classes.payout]\ncriticality = "critical"\n')
    payout = policy.task_classes["payout"]
    assert payout.on_stale is OnStale.REJECT
    assert payout.min_fresh_results == 1


@pytest.mark.parametrize("criticality", ["high", "standard", "low"])
def test_other_task_classes_flag_and_need_no_fresh_result_by_default(criticality: str) -> None:
    policy = parse_policy(GOOD + f'\n[task_classes.chat]\ncriticality = "{criticality}"\n')
    chat = policy.task_classes["chat"]
    assert chat.criticality == Criticality(criticality)
    assert chat.on_stale is OnStale.FLAG
    assert chat.min_fresh_results == 0


def test_a_task_class_without_criticality_is_standard_and_may_use_every_source_class() -> None:
    policy = parse_policy(GOOD + "\n[task_classes.chat]\n")
    chat = policy.task_classes["chat"]
    assert chat.criticality is Criticality.STANDARD
    assert chat.source_classes is None
    assert chat.allows("policy") and chat.allows("catalog")


def test_a_task_class_with_source_classes_allows_only_those() -> None:
    policy = parse_policy(GOOD.replace('source_classes = ["policy", "catalog"]', 'source_classes = ["catalog"]')
                          .replace("max_age = { catalog = \"6h\" }\n", ""))
    refund = policy.task_classes["refund_decision"]
    assert refund.allows("catalog")
    assert not refund.allows("policy")


# -- task max age overrides --------------------------------------------------------------------


def test_a_task_override_applies_to_its_source_class_only() -> None:
    policy = parse_policy(GOOD)
    refund = policy.task_classes["refund_decision"]
    assert refund.max_age_for(policy.source_classes["catalog"]) == 6 * HOUR
    assert refund.max_age_for(policy.source_classes["policy"]) == 7 * DAY
    # A task class without overrides uses the class's own max age.
    general = policy.task_classes["general_question"]
    assert general.max_age_for(policy.source_classes["catalog"]) == 24 * HOUR


def test_strictest_max_age_is_the_tightest_any_task_class_applies() -> None:
    policy = load_policy_file(SHIPPED)
    assert policy.strictest_max_age("catalog") == 6 * HOUR  # refund_decision's override
    assert policy.strictest_max_age("policy") == 7 * DAY
    assert policy.strictest_max_age("faq") == 30 * DAY


def test_strictest_max_age_ignores_task_classes_that_may_not_use_the_class() -> None:
    text = """
[source_classes.policy]
max_age = "7d"
[source_classes.faq]
max_age = "30d"
[task_classes.refund_decision]
criticality = "critical"
source_classes = ["policy"]
max_age = { policy = "1d" }
"""
    policy = parse_policy(text)
    assert policy.strictest_max_age("policy") == DAY
    # No task class may use faq: its own max age stands.
    assert policy.strictest_max_age("faq") == 30 * DAY


# -- refusals: each names the key ----------------------------------------------------------------


INVALID = [
    pytest.param('colour = "red"\n' + GOOD, "colour", id="unknown top-level key"),
    pytest.param(GOOD.replace('warn_age = "5d"', 'warn_age = "5d"\nmax_ag = "7d"'),
                 "source_classes.policy.max_ag", id="unknown key in a source class"),
    pytest.param(GOOD.replace('on_stale = "flag"', 'on_stale = "flag"\npriority = 3'),
                 "task_classes.general_question.priority", id="unknown key in a task class"),
    pytest.param(GOOD.replace('[source_classes.catalog]\nmax_age = "24h"', "[source_classes.catalog]"),
                 "source_classes.catalog.max_age", id="missing max_age"),
    pytest.param(GOOD.replace('max_age = "24h"', 'max_age = "a day"'),
                 "source_classes.catalog.max_age", id="bad duration"),
    pytest.param(GOOD.replace('max_age = "24h"', 'max_age = "P1M"'),
                 "source_classes.catalog.max_age", id="month duration"),
    pytest.param(GOOD.replace('max_age = "24h"', "max_age = 24"),
                 "source_classes.catalog.max_age", id="duration not a string"),
    pytest.param(GOOD.replace('warn_age = "5d"', 'warn_age = "x"'),
                 "source_classes.policy.warn_age", id="bad warn_age duration"),
    pytest.param(GOOD.replace('warn_age = "5d"', 'warn_age = "7d"'),
                 "source_classes.policy.warn_age", id="warn_age equal to max_age"),
    pytest.param(GOOD.replace('warn_age = "5d"', 'warn_age = "8d"'),
                 "source_classes.policy.warn_age", id="warn_age longer than max_age"),
    pytest.param(GOOD.replace('criticality = "low"', 'criticality = "urgent"'),
                 "task_classes.general_question.criticality", id="bad criticality"),
    pytest.param(GOOD.replace('criticality = "low"', "criticality = 3"),
                 "task_classes.general_question.criticality", id="criticality not a string"),
    pytest.param(GOOD.replace('on_stale = "flag"', 'on_stale = "ignore"'),
                 "task_classes.general_question.on_stale", id="bad on_stale"),
    pytest.param(GOOD.replace('on_stale = "reject"', 'on_stale = "flag"'),
                 "task_classes.refund_decision.on_stale", id="critical with on_stale flag"),
    pytest.param(GOOD.replace("min_fresh_results = 1", "min_fresh_results = -1"),
                 "task_classes.refund_decision.min_fresh_results", id="min_fresh_results negative"),
    pytest.param(GOOD.replace("min_fresh_results = 1", "min_fresh_results = 1.5"),
                 "task_classes.refund_decision.min_fresh_results", id="min_fresh_results float"),
    pytest.param(GOOD.replace("min_fresh_results = 1", 'min_fresh_results = "1"'),
                 "task_classes.refund_decision.min_fresh_results", id="min_fresh_results string"),
    pytest.param(GOOD.replace("min_fresh_results = 1", "min_fresh_results = true"),
                 "task_classes.refund_decision.min_fresh_results", id="min_fresh_results bool"),
    pytest.param(GOOD.replace('["policy", "catalog"]', '["policy", "catalogue"]'),
                 "task_classes.refund_decision.source_classes", id="source_classes names unknown class"),
    pytest.param(GOOD.replace('["policy", "catalog"]', '"policy"'),
                 "task_classes.refund_decision.source_classes", id="source_classes not a list"),
    pytest.param(GOOD.replace('catalog = "6h"', 'catalogue = "6h"'),
                 "task_classes.refund_decision.max_age.catalogue", id="override for unknown class"),
    pytest.param(GOOD.replace('catalog = "6h"', 'catalog = "soon"'),
                 "task_classes.refund_decision.max_age.catalog", id="override bad duration"),
    pytest.param(GOOD.replace('source_classes = ["policy", "catalog"]', 'source_classes = ["policy"]'),
                 "task_classes.refund_decision.max_age.catalog", id="override for a class the task does not use"),
    pytest.param(GOOD.replace('max_age = { catalog = "6h" }', 'max_age = "6h"'),
                 "task_classes.refund_decision.max_age", id="override not a table"),
    pytest.param(GOOD.replace("[source_classes.catalog]", '[source_classes."price list"]'),
                 "source_classes.price list", id="class name with a space"),
    pytest.param('[task_classes.chat]\ncriticality = "low"\n', "source_classes", id="no source classes"),
    pytest.param(GOOD.replace('catalog = "6h"', 'catalog = "48h"'),
                 "task_classes.refund_decision.max_age.catalog", id="override looser than the class"),
    pytest.param(GOOD.replace('["policy", "catalog"]', "[]").replace('max_age = { catalog = "6h" }\n', ""),
                 "task_classes.refund_decision.source_classes", id="source_classes empty"),
    pytest.param("owner = 'me'\n" + GOOD, "owner", id="unknown top-level key"),
    pytest.param('[source_classes.faq]\nmax_age = "30d"\n', "task_classes", id="no task classes"),
]


@pytest.mark.parametrize(("text", "key"), INVALID)
def test_an_invalid_policy_is_refused_naming_the_key(text: str, key: str) -> None:
    error = refused(text)
    assert error.extra["key"].endswith(key)
    assert key in str(error)
    assert error.status == 422
    assert error.type == "policy-invalid"


def test_messages_say_why_an_override_or_an_empty_list_is_refused() -> None:
    looser = refused(GOOD.replace('catalog = "6h"', 'catalog = "48h"'))
    # The class's own max age is quoted as the file writes it (`24h`), so the operator finds it.
    assert "only tightens" in str(looser) and "(24h)" in str(looser)
    empty = refused(GOOD.replace('["policy", "catalog"]', "[]").replace('max_age = { catalog = "6h" }\n', ""))
    assert "never be served" in str(empty)
    top = refused("owner = 'me'\n" + GOOD)
    assert top.extra["key"] == "owner"
    # An override as long as the class's own max age changes nothing, and is accepted.
    assert parse_policy(GOOD.replace('catalog = "6h"', 'catalog = "24h"')).task_classes["refund_decision"]


def test_invalid_toml_is_refused_with_the_parser_position() -> None:
    error = refused(GOOD.replace("[source_classes.catalog]", "[source_classes.catalog"))
    assert "not valid TOML" in str(error)
    assert "line" in str(error)


def test_a_critical_class_that_flags_says_it_must_reject() -> None:
    error = refused(GOOD.replace('on_stale = "reject"', 'on_stale = "flag"'))
    assert 'on_stale = "reject"' in str(error)


def test_a_bad_criticality_lists_the_allowed_values() -> None:
    error = refused(GOOD.replace('criticality = "low"', 'criticality = "urgent"'))
    assert "'urgent'" in str(error)
    assert "critical, high, standard, low" in str(error)


def test_an_absurd_iso_duration_is_refused_as_an_invalid_policy_not_a_crash() -> None:
    error = refused(GOOD.replace('max_age = "24h"', 'max_age = "P99999999999D"'))
    assert error.extra["key"] == "source_classes.catalog.max_age"
