"""What a RAG application is served from one ranking (SPEC §3 rules 3 to 6), without a database:
the ranked candidates with their snapshot facts, the policy and `now` in; the chunks served, the
ones listed as rejected and the status out.

The properties hold the rules to a literal reading of the SPEC, written out again below in
`expected_answer`, over rankings hypothesis draws: chunks of several classes, fresh, in their warning
band, stale or expired, a little into the future, many of them exactly at a border.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from freshness.policy.model import Criticality, OnStale, SourceClass, TaskClass
from freshness.policy.parse import parse_policy
from freshness.policy.verdict import Freshness, judge_for_task
from freshness.retrieval.rules import Decision, Status, decide, scan_limit

NOW = datetime(2025, 3, 14, 12, 0, 0, tzinfo=UTC)
HOUR, DAY = 3_600, 86_400

POLICY_DOCS = SourceClass("policy", max_age=7 * DAY, warn_age=5 * DAY)
CATALOG = SourceClass("catalog", max_age=24 * HOUR, warn_age=12 * HOUR)
FAQ = SourceClass("faq", max_age=30 * DAY)
CLASSES = {klass.name: klass for klass in (POLICY_DOCS, CATALOG, FAQ)}

REFUND = TaskClass("refund_decision", Criticality.CRITICAL, OnStale.REJECT, 1,
                   source_classes=("catalog", "policy"), max_age={"catalog": 6 * HOUR})
GENERAL = TaskClass("general_question", Criticality.LOW, OnStale.FLAG, 0)


@dataclass(frozen=True)
class Chunk:
    name: str
    source_class: str
    verified_at: datetime
    valid_until: datetime | None = None


def fresh(name: str, klass: str = "policy") -> Chunk:
    return Chunk(name, klass, NOW - timedelta(days=1))


def stale(name: str, klass: str = "policy") -> Chunk:
    return Chunk(name, klass, NOW - timedelta(days=8))


def expired(name: str, klass: str = "policy") -> Chunk:
    return Chunk(name, klass, NOW - timedelta(hours=1), valid_until=NOW - timedelta(minutes=1))


def names(judged: list) -> list[str]:
    return [j.candidate.name for j in judged]


# -- stories ---------------------------------------------------------------------------------------


def test_a_stale_chunk_at_the_top_gives_way_to_a_fresh_one_further_down() -> None:
    ranking = [stale("old-refunds"), fresh("new-refunds")]
    answer = decide(REFUND, CLASSES, ranking, 1, NOW)
    assert names(answer.served) == ["new-refunds"]
    assert names(answer.rejected) == ["old-refunds"]
    assert answer.status is Status.OK


def test_rejections_below_the_last_chunk_served_are_not_listed() -> None:
    ranking = [fresh("a"), stale("b"), fresh("c"), expired("d"), stale("e")]
    answer = decide(REFUND, CLASSES, ranking, 2, NOW)
    assert names(answer.served) == ["a", "c"]
    assert names(answer.rejected) == ["b"]


def test_a_short_answer_lists_every_rejection_scanned() -> None:
    ranking = [stale("a"), fresh("b"), expired("c"), stale("d")]
    answer = decide(REFUND, CLASSES, ranking, 3, NOW)
    assert names(answer.served) == ["b"]
    assert names(answer.rejected) == ["a", "c", "d"]
    assert [j.verdict.freshness for j in answer.rejected] == [Freshness.STALE, Freshness.EXPIRED, Freshness.STALE]


def test_a_fresh_chunk_at_the_end_of_the_scan_is_still_served() -> None:
    top_k = 3
    ranking = [stale(f"old-{i}") for i in range(scan_limit(top_k) - 1)] + [fresh("last")]
    answer = decide(REFUND, CLASSES, ranking, top_k, NOW)
    assert names(answer.served) == ["last"]
    assert len(answer.rejected) == scan_limit(top_k) - 1


def test_a_critical_task_with_nothing_fresh_gets_insufficient_context_not_stale_chunks() -> None:
    answer = decide(REFUND, CLASSES, [stale("a"), expired("b")], 5, NOW)
    assert answer.served == []
    assert answer.status is Status.INSUFFICIENT_CONTEXT


def test_a_flagging_task_is_served_the_stale_chunk_and_told() -> None:
    answer = decide(GENERAL, CLASSES, [stale("a"), fresh("b")], 5, NOW)
    assert names(answer.served) == ["a", "b"]
    assert answer.rejected == []
    assert answer.status is Status.FLAGGED


def test_a_warning_flags_the_answer_but_counts_as_fresh_enough() -> None:
    in_warning_band = Chunk("a", "policy", NOW - timedelta(days=6))
    answer = decide(REFUND, CLASSES, [in_warning_band], 5, NOW)
    assert names(answer.served) == ["a"]
    assert answer.status is Status.FLAGGED


def test_a_catalog_chunk_fresh_for_its_class_is_stale_under_the_task_override() -> None:
    seven_hours_old = Chunk("price", "catalog", NOW - timedelta(hours=7))
    refund = decide(REFUND, CLASSES, [seven_hours_old], 5, NOW)
    general = decide(GENERAL, CLASSES, [seven_hours_old], 5, NOW)
    assert names(refund.rejected) == ["price"] and refund.rejected[0].verdict.max_age_seconds == 6 * HOUR
    assert general.served[0].verdict.freshness is Freshness.FRESH


def test_chunks_of_a_class_the_task_may_not_use_are_neither_served_nor_listed() -> None:
    answer = decide(REFUND, CLASSES, [fresh("faq", "faq"), stale("faq-old", "faq"), fresh("p")], 5, NOW)
    assert names(answer.served) == ["p"]
    assert answer.rejected == []


def test_the_same_ranking_judged_later_can_only_lose_chunks() -> None:
    ranking = [Chunk("a", "policy", NOW - timedelta(days=6, hours=23)), fresh("b")]
    now = decide(REFUND, CLASSES, ranking, 5, NOW)
    later = decide(REFUND, CLASSES, ranking, 5, NOW + timedelta(hours=2))
    assert names(now.served) == ["a", "b"]
    assert names(later.served) == ["b"] and names(later.rejected) == ["a"]


@pytest.mark.parametrize(("criticality", "expected"), [("critical", Status.INSUFFICIENT_CONTEXT), ("low", Status.OK)])
def test_min_fresh_results_defaults_to_one_for_critical_classes_and_zero_otherwise(criticality, expected) -> None:
    on_stale = "reject" if criticality == "critical" else "flag"
    policy = parse_policy(f"""
[source_classes.policy]
max_age = "7d"

[task_classes.ask]
criticality = "{criticality}"
on_stale = "{on_stale}"
""")
    task = policy.task_classes["ask"]
    assert task.min_fresh_results == (1 if criticality == "critical" else 0)
    assert decide(task, policy.source_classes, [], 5, NOW).status is expected


# -- properties -----------------------------------------------------------------------------------

BORDERS = sorted({0, 5 * DAY, 7 * DAY, 12 * HOUR, 24 * HOUR, 6 * HOUR, 30 * DAY})


def ages() -> st.SearchStrategy[timedelta]:
    """Anywhere from a little in the future to two months, or within a second of a border."""
    anywhere = st.integers(min_value=-HOUR * 10**6, max_value=60 * DAY * 10**6).map(
        lambda us: timedelta(microseconds=us))
    near = st.tuples(st.sampled_from(BORDERS), st.integers(min_value=-10**6, max_value=10**6)).map(
        lambda pair: timedelta(seconds=pair[0], microseconds=pair[1]))
    return st.one_of(anywhere, near)


@st.composite
def chunks(draw, index: int) -> Chunk:
    valid_until = draw(st.one_of(st.none(), st.integers(min_value=-DAY, max_value=DAY).map(
        lambda s: NOW + timedelta(seconds=s))))
    return Chunk(f"c{index}", draw(st.sampled_from(sorted(CLASSES))), NOW - draw(ages()), valid_until)


@st.composite
def rankings(draw) -> list[Chunk]:
    size = draw(st.integers(min_value=0, max_value=40))
    return [draw(chunks(i)) for i in range(size)]


@st.composite
def task_classes(draw) -> TaskClass:
    on_stale = draw(st.sampled_from(list(OnStale)))
    criticality = (draw(st.sampled_from(list(Criticality))) if on_stale is OnStale.REJECT
                   else draw(st.sampled_from([c for c in Criticality if c is not Criticality.CRITICAL])))
    allowed = draw(st.one_of(st.none(), st.sets(st.sampled_from(sorted(CLASSES)), min_size=1).map(
        lambda s: tuple(sorted(s)))))
    overrides = draw(st.dictionaries(st.sampled_from(sorted(CLASSES)), st.sampled_from([HOUR, 6 * HOUR, 3 * DAY]),
                                     max_size=2))
    return TaskClass("task", criticality, on_stale, draw(st.integers(min_value=0, max_value=4)),
                     source_classes=allowed, max_age=overrides)


top_ks = st.integers(min_value=1, max_value=8)


def literal_freshness(task: TaskClass, chunk: Chunk) -> Freshness:
    return judge_for_task(task, CLASSES[chunk.source_class], chunk.verified_at, chunk.valid_until, NOW).freshness


def literal_passes(task: TaskClass, chunk: Chunk) -> bool:
    """Rule 3: a rejecting class is not served stale or expired chunks; a flagging one is served all."""
    too_old = literal_freshness(task, chunk) in (Freshness.STALE, Freshness.EXPIRED)
    return not (task.on_stale is OnStale.REJECT and too_old)


def expected_answer(task: TaskClass, ranking: list[Chunk], top_k: int) -> tuple[list[str], list[str], Status]:
    """SPEC §3 rules 4, 5 and 6, read literally."""
    candidates = [c for c in ranking if task.source_classes is None or c.source_class in task.source_classes]
    passing = [c for c in candidates if literal_passes(task, c)]
    served = passing[:top_k]
    refused = [c for c in candidates if not literal_passes(task, c)]
    if len(served) < top_k:
        listed = refused
    else:
        last = ranking.index(served[-1])
        listed = [c for c in refused if ranking.index(c) < last]
    fresh_or_warn = sum(1 for c in served if literal_freshness(task, c) in (Freshness.FRESH, Freshness.WARN))
    if fresh_or_warn < task.min_fresh_results:
        status = Status.INSUFFICIENT_CONTEXT
    elif any(literal_freshness(task, c) is not Freshness.FRESH for c in served):
        status = Status.FLAGGED
    else:
        status = Status.OK
    return [c.name for c in served], [c.name for c in listed], status


def judged(task: TaskClass, ranking: list[Chunk], top_k: int) -> Decision[Chunk]:
    return decide(task, CLASSES, ranking, top_k, NOW)


@given(task=task_classes(), ranking=rankings(), top_k=top_ks)
def test_the_answer_never_holds_more_than_top_k_chunks(task, ranking, top_k) -> None:
    assert len(judged(task, ranking, top_k).served) <= top_k


@given(task=task_classes().filter(lambda t: t.on_stale is OnStale.REJECT), ranking=rankings(), top_k=top_ks)
def test_a_rejecting_task_is_never_served_a_stale_or_expired_chunk(task, ranking, top_k) -> None:
    answer = judged(task, ranking, top_k)
    for chunk in answer.served:
        assert literal_freshness(task, chunk.candidate) in (Freshness.FRESH, Freshness.WARN)
        assert chunk.verdict.freshness in (Freshness.FRESH, Freshness.WARN)
    for chunk in answer.rejected:
        assert chunk.verdict.freshness in (Freshness.STALE, Freshness.EXPIRED)


@given(task=task_classes(), ranking=rankings(), top_k=top_ks)
def test_chunks_are_served_in_ranking_order_and_each_is_the_one_ranked_there(task, ranking, top_k) -> None:
    answer = judged(task, ranking, top_k)
    positions = [chunk.position for chunk in answer.served]
    assert positions == sorted(set(positions))
    assert all(ranking[chunk.position] is chunk.candidate for chunk in [*answer.served, *answer.rejected])


@given(task=task_classes(), ranking=rankings(), top_k=top_ks)
def test_a_rejection_never_shrinks_the_answer_while_passing_chunks_exist_further_down(task, ranking, top_k) -> None:
    expected_served, _, _ = expected_answer(task, ranking, top_k)
    assert names(judged(task, ranking, top_k).served) == expected_served


@given(task=task_classes(), ranking=rankings(), top_k=top_ks)
def test_rejected_lists_exactly_the_rejections_above_the_last_chunk_served_or_all_when_short(
        task, ranking, top_k) -> None:
    _, expected_rejected, _ = expected_answer(task, ranking, top_k)
    assert names(judged(task, ranking, top_k).rejected) == expected_rejected


@given(task=task_classes(), ranking=rankings(), top_k=top_ks)
def test_the_status_follows_rule_6(task, ranking, top_k) -> None:
    _, _, expected_status = expected_answer(task, ranking, top_k)
    assert judged(task, ranking, top_k).status is expected_status


@given(task=task_classes().filter(lambda t: t.on_stale is OnStale.FLAG), ranking=rankings(), top_k=top_ks)
def test_a_flagging_task_rejects_nothing_and_is_served_the_top_of_the_ranking(task, ranking, top_k) -> None:
    answer = judged(task, ranking, top_k)
    usable = [c.name for c in ranking if task.allows(c.source_class)]
    assert answer.rejected == []
    assert names(answer.served) == usable[:top_k]


@given(task=task_classes().filter(lambda t: t.on_stale is OnStale.REJECT), ranking=rankings(), top_k=top_ks,
       hours=st.integers(min_value=1, max_value=24 * 40))
def test_as_time_passes_a_rejecting_task_loses_chunks_it_never_gains_stale_ones(task, ranking, top_k, hours) -> None:
    passing_now = {c.name for c in ranking if literal_passes(task, c)}
    later = decide(task, CLASSES, ranking, top_k, NOW + timedelta(hours=hours))
    assert {chunk.candidate.name for chunk in later.served} <= passing_now
