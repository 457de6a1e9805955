"""What an operator learns before changing the policy: recorded traffic judged under a candidate."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.conftest import Api, publish, register
from tests.trust.conftest import ask

ROOT = Path(__file__).resolve().parents[2]
POLICY = (ROOT / "config" / "policy.toml").read_text()
CURRENT_AGES = 'max_age = "7d"\nwarn_age = "5d"'


def _candidate(ages: str) -> str:
    return POLICY.replace(CURRENT_AGES, ages, 1)


def _dry_run(api: Api, policy: str, since: str = "30d", expect: int = 200, **extra) -> dict:
    response = api.post("/v1/policy/dry-run", json={"policy": policy, "since": since, **extra})
    assert response.status_code == expect, response.text
    return response.json()


def _history(admin: Api, reader: Api, clock) -> None:
    """a1, a2 at 6 days old (warn); a3, a4 at 8 days (stale: a3 withheld, a4 flagged)."""
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])
    clock.advance(days=6)
    assert ask(reader, "a1", "refund_decision")["status"] == "flagged"
    assert ask(reader, "a2")["status"] == "flagged"
    clock.advance(days=2)
    assert ask(reader, "a3", "refund_decision")["status"] == "insufficient_context"
    assert ask(reader, "a4")["status"] == "flagged"


def _by_class(body: dict) -> dict[str, dict]:
    return {c["task_class"]: c for c in body["task_classes"]}


def test_a_looser_candidate_makes_every_request_ok(admin, reader, clock):
    _history(admin, reader, clock)
    body = _dry_run(admin, _candidate('max_age = "10d"\nwarn_age = "9d"'))
    assert (body["records"], body["chunks"]) == (4, 4)
    refund, general = _by_class(body)["refund_decision"], _by_class(body)["general_question"]
    assert (refund["requests"], refund["would_be_newly_ok"], refund["unchanged"]) == (2, 2, 0)
    assert sorted(refund["examples"]["newly_ok"]) == ["a1", "a3"]  # a3's withheld chunk now passes
    assert (general["requests"], general["would_be_newly_ok"], general["chunks_rejected"]) == (2, 2, {})


def test_a_tighter_candidate_rejects_what_was_served(admin, reader, clock):
    _history(admin, reader, clock)
    body = _dry_run(admin, _candidate('max_age = "5d"\nwarn_age = "1d"'))
    refund, general = _by_class(body)["refund_decision"], _by_class(body)["general_question"]
    assert refund["chunks_rejected"] == {"stale": 1}  # a1's chunk, served then at 6 days
    assert (refund["would_be_insufficient_context"], refund["unchanged"]) == (1, 1)
    assert refund["examples"] == {"insufficient_context": ["a1"], "flagged": [], "newly_ok": []}
    assert (general["chunks_rejected"], general["unchanged"]) == ({}, 2)  # flag: served stale, flagged as before
    assert body["candidate_version"] != body["current_version"]


def test_classes_the_candidate_drops_or_no_longer_allows(admin, reader, clock):
    _history(admin, reader, clock)
    candidate = POLICY.replace('source_classes = ["policy", "catalog"]', 'source_classes = ["catalog"]', 1)
    candidate = candidate.replace("max_age = { catalog = \"6h\" }\n", "max_age = { catalog = \"6h\" }\n", 1)
    candidate = candidate[:candidate.index("[task_classes.general_question]")]
    body = _dry_run(admin, candidate)
    refund, general = _by_class(body)["refund_decision"], _by_class(body)["general_question"]
    assert refund["chunks_rejected"] == {"not_allowed": 1}
    assert refund["would_be_insufficient_context"] == 1
    assert general["missing_from_candidate"] is True and general["requests"] == 2


def test_the_window_and_task_classes_narrow_the_records(admin, reader, clock):
    _history(admin, reader, clock)
    assert _dry_run(admin, POLICY, since="1d")["records"] == 2
    only = _dry_run(admin, POLICY, task_classes=["refund_decision"])
    assert [c["task_class"] for c in only["task_classes"]] == ["refund_decision"]


def test_an_invalid_candidate_is_refused_as_a_reload_would_and_nothing_changes(admin, reader, clock, keys):
    _history(admin, reader, clock)
    before = admin.get("/v1/policy").json()
    bad = _dry_run(admin, _candidate('max_age = "7d"\nwarn_age = "8d"'), expect=422)
    assert "source_classes.policy.warn_age" in bad["detail"]
    renamed = POLICY.replace("[source_classes.policy]", "[source_classes.rules]").replace('"policy", "catalog"',
                                                                                        '"rules", "catalog"')
    dropped = _dry_run(admin, renamed, expect=422)
    assert "still used by live sources" in dropped["detail"]
    assert "not valid TOML" in _dry_run(admin, "[[[", expect=422)["detail"]
    _dry_run(admin, _candidate('max_age = "1d"\nwarn_age = "12h"'))
    assert admin.get("/v1/policy").json() == before
    assert _dry_run(admin, POLICY, since="soon", expect=422)["field"] == "since"
    assert admin.as_key(keys.auditor).post("/v1/policy/dry-run", json={"policy": POLICY, "since": "1d"}
                                           ).status_code == 403
    assert reader.post("/v1/policy/dry-run", json={"policy": POLICY, "since": "1d"}).status_code == 403


# Steps of traffic: move the clock (whole seconds, a fraction, or exactly onto a threshold), then ask.
ADVANCES = st.one_of(st.integers(0, 9 * 86400), st.sampled_from([0.5, 6 * 3600, 12 * 3600, 86400, 5 * 86400,
                                                                  7 * 86400]))
STEPS = st.lists(st.tuples(ADVANCES, st.sampled_from(["refund_decision", "order_status", "general_question"]),
                           st.sampled_from(["refund days", "price shoe", "refund price shoe shipping"]),
                           st.integers(1, 3)), min_size=1, max_size=6)


@hypothesis_settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
# Half a second past the max age, or the warning age: recorded stale, or warn, at an age of exactly that
# limit in whole seconds.
@example(steps=[(0.5, "refund_decision", "refund days", 1), (7 * 86400, "refund_decision", "refund days", 1)])
@example(steps=[(0.5, "general_question", "refund days", 1), (5 * 86400, "general_question", "refund days", 1)])
def test_the_policy_that_judged_the_traffic_changes_nothing(admin, reader, clock, steps):
    started = clock.advance(seconds=1).isoformat()  # after the records of the examples before
    tag = str(abs(hash((started, tuple(steps)))))[:10]
    for source_id, klass, text in ((f"p{tag}", "policy", "Refunds within 30 days, refund price."),
                                   (f"c{tag}", "catalog", "Price of the shoe: 129 EUR, shipping free."),
                                   (f"f{tag}", "faq", "Shipping takes 3 days; shoe price on the site.")):
        register(admin, source_id, klass)
        publish(admin, source_id, [{"id": "d", "text": text}])
    for number, (advance, task_class, query, top_k) in enumerate(steps):
        clock.advance(seconds=advance)
        ask(reader, f"h{tag}-{number}", task_class, query=query, top_k=top_k)
    body = _dry_run(admin, POLICY, since=started)
    assert body["records"] == len(steps)
    for judged in body["task_classes"]:
        assert judged["chunks_rejected"] == {}, judged
        assert judged["unchanged"] == judged["requests"], judged
