"""An operator reads the policy back: each duration as the file writes it, the seconds beside it,
and a version that does not move when only the spelling of a duration does."""

from __future__ import annotations

from pathlib import Path

from freshness.policy.model import Criticality, OnStale, Policy, SourceClass, TaskClass
from freshness.policy.parse import parse_policy
from freshness.policy.schemas import policy_out

HOUR, DAY, WEEK = 3_600, 86_400, 604_800

WRITTEN = """
[source_classes.policy]
max_age = "2w"
warn_age = "7d"

[source_classes.catalog]
max_age = "36h"

[task_classes.refund_decision]
criticality = "critical"
source_classes = ["policy", "catalog"]
max_age = { policy = "P7D" }

[task_classes.general_question]
criticality = "low"
"""

# The same lengths spelled another way: one week is 168 hours, two weeks are 14 days.
RESPELLED = (
    WRITTEN.replace('"2w"', '"14d"').replace('"7d"', '"168h"').replace('"36h"', '"1.5d"').replace('"P7D"', '"1w"')
)

# The version of WRITTEN as it was computed before durations kept their text: versions are stored
# and compared across restarts, so keeping the text must not change them.
VERSION = "sha256:a5627e41afca71fbfd52e2e338b2680127fbfa40273a312f80de854b0c6ba7f4"


def test_durations_are_shown_as_written_with_their_seconds(admin, keys, policy_file: Path) -> None:
    policy_file.write_text(WRITTEN)
    assert admin.post("/v1/policy/reload").status_code == 200

    shown = admin.as_key(keys.reader).get("/v1/policy").json()

    assert shown["version"] == VERSION
    assert shown["source_classes"]["policy"] == {
        "max_age": "2w", "max_age_seconds": 2 * WEEK, "warn_age": "7d", "warn_age_seconds": WEEK,
    }
    assert shown["source_classes"]["catalog"] == {
        "max_age": "36h", "max_age_seconds": 36 * HOUR, "warn_age": None, "warn_age_seconds": None,
    }
    refund = shown["task_classes"]["refund_decision"]
    assert refund["max_age"] == {"policy": "P7D"}
    assert refund["max_age_seconds"] == {"policy": WEEK}


def test_respelling_a_duration_keeps_the_version_and_shows_the_new_text(admin, policy_file: Path) -> None:
    policy_file.write_text(WRITTEN)
    assert admin.post("/v1/policy/reload").status_code == 200

    policy_file.write_text(RESPELLED)
    reloaded = admin.post("/v1/policy/reload").json()

    assert reloaded["changed"] is False
    assert reloaded["version"] == reloaded["previous_version"] == VERSION
    shown = admin.get("/v1/policy").json()
    assert shown["source_classes"]["policy"]["max_age"] == "14d"
    assert shown["source_classes"]["policy"]["warn_age"] == "168h"
    assert shown["source_classes"]["catalog"]["max_age"] == "1.5d"
    assert shown["task_classes"]["refund_decision"]["max_age"] == {"policy": "1w"}


def test_the_texts_stay_out_of_the_canonical_form_and_of_equality() -> None:
    written, respelled = parse_policy(WRITTEN), parse_policy(RESPELLED)

    assert written.version == respelled.version == VERSION
    assert written.canonical == respelled.canonical
    assert "2w" not in str(written.canonical) and "P7D" not in str(written.canonical)
    assert written.source_classes == respelled.source_classes
    assert written.task_classes == respelled.task_classes


def test_a_policy_built_in_code_shows_the_shortest_exact_form() -> None:
    # No file wrote these durations, so there is no text to show; the short form stands in.
    faq = SourceClass("faq", max_age=30 * DAY, warn_age=36 * HOUR)
    task = TaskClass("order_status", Criticality.HIGH, OnStale.REJECT, 1, max_age={"faq": 2 * WEEK})
    policy = Policy(source_classes={"faq": faq}, task_classes={"order_status": task}, version=VERSION, canonical={})

    shown = policy_out(policy)

    assert (shown.source_classes["faq"].max_age, shown.source_classes["faq"].warn_age) == ("30d", "36h")
    assert shown.task_classes["order_status"].max_age == {"faq": "2w"}
