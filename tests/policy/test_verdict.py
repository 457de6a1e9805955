"""The verdict a RAG application relies on (SPEC §3): given the policy, a chunk's snapshot facts and
`now`, is the chunk fresh, warn, stale or expired, and may this task class be served it?"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from freshness.policy.model import Criticality, OnStale, SourceClass, TaskClass
from freshness.policy.verdict import Freshness, age_seconds, is_served, judge, judge_for_task

NOW = datetime(2025, 3, 14, 12, 0, 0, tzinfo=UTC)
HOUR, DAY = 3_600, 86_400

POLICY_DOCS = SourceClass("policy", max_age=7 * DAY, warn_age=5 * DAY)
CATALOG = SourceClass("catalog", max_age=24 * HOUR, warn_age=12 * HOUR)
FAQ = SourceClass("faq", max_age=30 * DAY)  # no warning threshold

REFUND = TaskClass(
    "refund_decision", Criticality.CRITICAL, OnStale.REJECT, 1,
    source_classes=("catalog", "policy"), max_age={"catalog": 6 * HOUR},
)
ORDER_STATUS = TaskClass("order_status", Criticality.HIGH, OnStale.REJECT, 1)
GENERAL = TaskClass("general_question", Criticality.LOW, OnStale.FLAG, 0)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


# -- table: the four verdicts and their borders ------------------------------------------------


@pytest.mark.parametrize(
    ("verified_at", "valid_until", "expected"),
    [
        (NOW, None, Freshness.FRESH),
        (ago(days=5), None, Freshness.FRESH),  # exactly warn_age: not yet past it
        (ago(days=5, seconds=1), None, Freshness.WARN),
        (ago(days=7), None, Freshness.WARN),  # exactly max_age: not yet older than it
        (ago(days=7, seconds=1), None, Freshness.STALE),
        (ago(days=400), None, Freshness.STALE),
        (NOW, NOW - timedelta(seconds=1), Freshness.EXPIRED),  # fresh content past its hard expiry
        (ago(days=6), NOW - timedelta(days=1), Freshness.EXPIRED),  # expired beats warn
        (ago(days=30), NOW - timedelta(days=1), Freshness.EXPIRED),  # expired beats stale
        (ago(days=1), NOW, Freshness.FRESH),  # valid until this very moment: still valid
        (ago(days=1), NOW + timedelta(days=1), Freshness.FRESH),
        (ago(days=8), NOW + timedelta(days=365), Freshness.STALE),  # valid_until does not excuse age
    ],
)
def test_the_verdict_of_a_refund_policy_chunk(verified_at, valid_until, expected) -> None:
    verdict = judge(POLICY_DOCS.max_age, POLICY_DOCS.warn_age, verified_at, valid_until, NOW)
    assert verdict.freshness is expected
    assert verdict.max_age_seconds == 7 * DAY


def test_a_chunk_a_fraction_of_a_second_past_its_max_age_is_stale() -> None:
    verdict = judge(7 * DAY, None, ago(days=7, microseconds=500_000), None, NOW)
    assert verdict.freshness is Freshness.STALE


def test_a_class_without_warn_age_goes_straight_from_fresh_to_stale() -> None:
    assert judge(FAQ.max_age, None, ago(days=30), None, NOW).freshness is Freshness.FRESH
    assert judge(FAQ.max_age, None, ago(days=30, seconds=1), None, NOW).freshness is Freshness.STALE


def test_the_age_is_reported_in_whole_seconds_since_verification() -> None:
    verdict = judge(DAY, None, ago(hours=2, seconds=3), None, NOW)
    assert verdict.age_seconds == 2 * HOUR + 3


def test_content_verified_in_the_future_has_age_zero_and_is_fresh() -> None:
    # A publisher's clock a little ahead must not produce a negative age in the answer.
    verdict = judge(HOUR, None, NOW + timedelta(minutes=4), None, NOW)
    assert verdict.age_seconds == 0
    assert verdict.freshness is Freshness.FRESH


@pytest.mark.parametrize(
    ("freshness", "usable"),
    [(Freshness.FRESH, True), (Freshness.WARN, True), (Freshness.STALE, False), (Freshness.EXPIRED, False)],
)
def test_only_fresh_and_warn_chunks_count_as_usable(freshness, usable) -> None:
    verified_at = {
        Freshness.FRESH: ago(days=1), Freshness.WARN: ago(days=6),
        Freshness.STALE: ago(days=8), Freshness.EXPIRED: ago(days=1),
    }[freshness]
    valid_until = NOW - timedelta(seconds=1) if freshness is Freshness.EXPIRED else None
    verdict = judge(POLICY_DOCS.max_age, POLICY_DOCS.warn_age, verified_at, valid_until, NOW)
    assert verdict.freshness is freshness
    assert verdict.usable is usable
    assert is_served(REFUND, verdict) is usable
    assert is_served(GENERAL, verdict) is True


# -- table: task classes ------------------------------------------------------------------------


def test_a_refund_decision_rejects_a_catalog_chunk_the_catalog_class_still_calls_fresh() -> None:
    verified_at = ago(hours=7)  # past refund_decision's 6h, well within catalog's 24h
    for_refund = judge_for_task(REFUND, CATALOG, verified_at, None, NOW)
    for_orders = judge_for_task(ORDER_STATUS, CATALOG, verified_at, None, NOW)

    assert for_refund.freshness is Freshness.STALE
    assert for_refund.max_age_seconds == 6 * HOUR
    assert not is_served(REFUND, for_refund)
    assert for_orders.freshness is Freshness.FRESH
    assert for_orders.max_age_seconds == 24 * HOUR
    assert is_served(ORDER_STATUS, for_orders)


def test_a_task_override_tighter_than_the_warn_age_drops_the_warning_band() -> None:
    # catalog warns after 12h, but refund_decision already calls it stale after 6h.
    assert judge_for_task(REFUND, CATALOG, ago(hours=5), None, NOW).freshness is Freshness.FRESH
    assert judge_for_task(REFUND, CATALOG, ago(hours=6, seconds=1), None, NOW).freshness is Freshness.STALE


def test_a_task_without_override_keeps_the_class_warning() -> None:
    assert judge_for_task(REFUND, POLICY_DOCS, ago(days=6), None, NOW).freshness is Freshness.WARN
    assert judge_for_task(ORDER_STATUS, CATALOG, ago(hours=13), None, NOW).freshness is Freshness.WARN


def test_a_flagging_task_class_is_served_stale_and_expired_chunks_labelled_as_such() -> None:
    stale = judge_for_task(GENERAL, CATALOG, ago(days=3), None, NOW)
    expired = judge_for_task(GENERAL, CATALOG, ago(hours=1), NOW - timedelta(minutes=1), NOW)

    assert stale.freshness is Freshness.STALE and is_served(GENERAL, stale)
    assert expired.freshness is Freshness.EXPIRED and is_served(GENERAL, expired)


# -- properties -----------------------------------------------------------------------------------

seconds_of_max_age = st.integers(min_value=1, max_value=60 * DAY)
# Offsets down to the microsecond, both into the past and (clock skew) a little into the future.
offsets = st.integers(min_value=-2 * DAY * 10**6, max_value=120 * DAY * 10**6).map(
    lambda us: timedelta(microseconds=us)
)
maybe_valid_until = st.one_of(
    st.none(), st.integers(min_value=-30 * DAY * 10**6, max_value=30 * DAY * 10**6).map(
        lambda us: NOW + timedelta(microseconds=us)
    ),
)
on_stale = st.sampled_from(list(OnStale))


@st.composite
def source_classes(draw) -> SourceClass:
    max_age = draw(seconds_of_max_age)
    warn_age = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=max_age - 1) if max_age > 1
                              else st.none()))
    return SourceClass("klass", max_age=max_age, warn_age=warn_age)


def offsets_near(*borders: int | None) -> st.SearchStrategy[timedelta]:
    """Ages anywhere, or within two seconds of a border (to the microsecond), where mistakes hide."""
    near = [
        st.integers(min_value=-2 * 10**6, max_value=2 * 10**6).map(
            lambda us, b=border: timedelta(seconds=b, microseconds=us)
        )
        for border in (0, *borders)
        if border is not None
    ]
    return st.one_of(offsets, *near)


@st.composite
def task_classes(draw, klass: SourceClass | None = None) -> TaskClass:
    mode = draw(on_stale)
    criticality = Criticality.CRITICAL if mode is OnStale.REJECT and draw(st.booleans()) else Criticality.LOW
    overrides = {}
    if klass is not None and draw(st.booleans()):
        overrides = {klass.name: draw(seconds_of_max_age)}
    return TaskClass("task", criticality, mode, 0, max_age=overrides)


def expected_freshness(max_age: int, warn_age: int | None, verified_at, valid_until) -> Freshness:
    """SPEC §3 rule 2 read literally, with the exact age."""
    age = NOW - verified_at
    if valid_until is not None and valid_until < NOW:
        return Freshness.EXPIRED
    if age > timedelta(seconds=max_age):
        return Freshness.STALE
    if warn_age is not None and age > timedelta(seconds=warn_age):
        return Freshness.WARN
    return Freshness.FRESH


@given(klass=source_classes(), valid_until=maybe_valid_until, data=st.data())
def test_a_rejecting_task_class_is_never_served_a_chunk_past_its_max_age_or_expiry(klass, valid_until, data) -> None:
    task = data.draw(task_classes(klass).filter(lambda t: t.on_stale is OnStale.REJECT))
    offset = data.draw(offsets_near(klass.max_age, klass.warn_age, task.max_age_for(klass)))
    verified_at = NOW - offset
    verdict = judge_for_task(task, klass, verified_at, valid_until, NOW)
    if is_served(task, verdict):
        assert NOW - verified_at <= timedelta(seconds=task.max_age_for(klass))
        assert valid_until is None or valid_until >= NOW


@given(klass=source_classes(), valid_until=maybe_valid_until, data=st.data())
def test_expired_beats_stale_beats_warn_beats_fresh(klass, valid_until, data) -> None:
    offset = data.draw(offsets_near(klass.max_age, klass.warn_age))
    verified_at = NOW - offset
    verdict = judge(klass.max_age, klass.warn_age, verified_at, valid_until, NOW)
    assert verdict.freshness is expected_freshness(klass.max_age, klass.warn_age, verified_at, valid_until)


@given(klass=source_classes(), data=st.data())
def test_warn_only_between_warn_age_and_max_age(klass, data) -> None:
    offset = data.draw(offsets_near(klass.max_age, klass.warn_age))
    verdict = judge(klass.max_age, klass.warn_age, NOW - offset, None, NOW)
    in_band = klass.warn_age is not None and timedelta(seconds=klass.warn_age) < offset <= timedelta(
        seconds=klass.max_age
    )
    assert (verdict.freshness is Freshness.WARN) is in_band


@given(klass=source_classes(), valid_until=maybe_valid_until, data=st.data())
def test_a_flagging_task_class_is_served_everything_yet_told_the_truth(klass, valid_until, data) -> None:
    offset = data.draw(offsets_near(klass.max_age, klass.warn_age))
    task = TaskClass("general_question", Criticality.LOW, OnStale.FLAG, 0)
    verified_at = NOW - offset
    verdict = judge_for_task(task, klass, verified_at, valid_until, NOW)
    assert is_served(task, verdict)
    assert verdict.freshness is expected_freshness(klass.max_age, klass.warn_age, verified_at, valid_until)


@given(klass=source_classes(), tighter=seconds_of_max_age, valid_until=maybe_valid_until, data=st.data())
def test_a_tighter_task_override_is_what_decides_staleness(klass, tighter, valid_until, data) -> None:
    assume(tighter < klass.max_age)
    offset = data.draw(offsets_near(tighter, klass.max_age, klass.warn_age))
    strict = TaskClass("refund_decision", Criticality.CRITICAL, OnStale.REJECT, 1, max_age={klass.name: tighter})
    lenient = TaskClass("order_status", Criticality.HIGH, OnStale.REJECT, 1)
    verified_at = NOW - offset

    under_strict = judge_for_task(strict, klass, verified_at, valid_until, NOW)
    under_lenient = judge_for_task(lenient, klass, verified_at, valid_until, NOW)

    assert under_strict.max_age_seconds == tighter
    if valid_until is None or valid_until >= NOW:
        assert (under_strict.freshness is Freshness.STALE) is (offset > timedelta(seconds=tighter))
    # Whatever the lenient task may not be served, the strict one may not either.
    if not is_served(lenient, under_lenient):
        assert not is_served(strict, under_strict)


@given(offset=offsets, max_age=seconds_of_max_age, valid_until=maybe_valid_until)
def test_the_age_is_never_negative_and_never_more_than_the_elapsed_time(offset, max_age, valid_until) -> None:
    verified_at = NOW - offset
    verdict = judge(max_age, None, verified_at, valid_until, NOW)
    assert verdict.age_seconds >= 0
    assert verdict.age_seconds == age_seconds(verified_at, NOW)
    if offset <= timedelta(0):
        assert verdict.age_seconds == 0
    else:
        assert verdict.age_seconds == int(offset.total_seconds())
