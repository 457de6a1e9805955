"""The candidate policy's verdict of every case a recorded chunk can be in, judged once each by the pure
verdict (policy.verdict), and the SQL expression that puts each chunk row in its case.

Under one task class and source class, the verdict of a chunk changes only where its age passes the
warning age or the max age, or where it had expired (expiry is the content's own `valid_until`, so
no policy changes it). A case is therefore (task class, source class, band): expired, past the max
age, past the warning age, or neither. Each case is judged once here, in Python, at an age inside its
band; the database only compares each row's age with the case's limits, which is what lets a million
records be judged in seconds.

Ages are recorded in whole seconds, floored: the exact age was in [age, age + 1). The recorded verdict
tells which end to take. A chunk recorded `fresh` may have been exactly its age; one recorded `stale`
was past its max age, so more than its whole seconds; one recorded `warn` was past its warning age
and within its max age, so more than its whole seconds unless they equal that max age. The row is
taken as half a second older than recorded when it must have been, so the policy that judged it
judges it the same, and any other limit equal to its recorded age is judged as the exact age would be.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, FromClause, and_, case, false, literal, or_

from freshness.policy.model import Policy
from freshness.policy.verdict import Freshness, is_served, judge_for_task

# What the candidate does with one chunk: serves it fresh, warn, or stale/expired (a flag class), or
# withholds it for a reason. NOT_ALLOWED: the task class no longer takes its source class.
FRESH, WARN, FLAGGED, STALE, EXPIRED, NOT_ALLOWED = range(6)
REASONS = {STALE: "stale", EXPIRED: "expired", NOT_ALLOWED: "not_allowed"}
USABLE = (FRESH, WARN)
NOT_FRESH = (WARN, FLAGGED)

_NOW = datetime(2000, 1, 1, tzinfo=UTC)  # any fixed moment: only ages matter


def _code(policy: Policy, task_class: str, source_class: str, elapsed: float, expired: bool) -> int:
    task, klass = policy.task_classes[task_class], policy.source_classes[source_class]
    verdict = judge_for_task(task, klass, _NOW - timedelta(seconds=elapsed),
                             _NOW - timedelta(seconds=1) if expired else None, _NOW)
    if not is_served(task, verdict):
        return EXPIRED if verdict.freshness is Freshness.EXPIRED else STALE
    return {Freshness.FRESH: FRESH, Freshness.WARN: WARN}.get(verdict.freshness, FLAGGED)


def limits(policy: Policy, task_class: str, source_class: str) -> tuple[int, int | None]:
    """The max age, and the warning age where it means anything (policy.verdict.judge_for_task drops a
    warning age at or past the task's tighter max age)."""
    klass = policy.source_classes[source_class]
    max_age = policy.task_classes[task_class].max_age_for(klass)
    warn = klass.warn_age if klass.warn_age is not None and klass.warn_age < max_age else None
    return max_age, warn


def band_codes(policy: Policy, task_class: str, source_class: str) -> dict[str, int]:
    """The verdict of each band, each judged at an age inside it."""
    max_age, warn = limits(policy, task_class, source_class)
    return {
        "expired": _code(policy, task_class, source_class, 0, True),
        "past_max": _code(policy, task_class, source_class, max_age + 0.5, False),
        "past_warn": _code(policy, task_class, source_class, warn + 0.5, False) if warn is not None else FRESH,
        "within": _code(policy, task_class, source_class, 0, False),
    }


def code_of_row(policy: Policy, task_class: ColumnElement, chunks: FromClause,
                leaf: Callable[[int], ColumnElement[int]] = literal) -> ColumnElement[int]:
    """An SQL expression: the code of each chunk row under `policy` (NOT_ALLOWED for a task class the
    policy lacks, a source class it lacks or the task does not take, or a row without a class).

    `leaf` turns a code into what the expression yields for it (by default the code itself), so that a
    caller that sums something per code evaluates the cases once per row, not once per sum."""
    age, recorded = chunks.c.age_seconds, chunks.c.freshness
    # More than its whole seconds old (see the module docstring).
    fraction = or_(recorded == "stale", and_(recorded == "warn", age != chunks.c.max_age_seconds))

    def passed(limit: int | None) -> ColumnElement[bool]:
        return false() if limit is None else or_(age > limit, and_(age == limit, fraction))

    by_task = {}
    for task_name, task in sorted(policy.task_classes.items()):
        by_source = {}
        for source_name in sorted(policy.source_classes):
            if not task.allows(source_name):
                continue
            max_age, warn = limits(policy, task_name, source_name)
            codes = band_codes(policy, task_name, source_name)
            by_source[source_name] = case(
                (recorded == "expired", leaf(codes["expired"])),
                (passed(max_age), leaf(codes["past_max"])),
                (passed(warn), leaf(codes["past_warn"])),
                else_=leaf(codes["within"]),
            )
        if by_source:
            by_task[task_name] = case(by_source, value=chunks.c.source_class, else_=leaf(NOT_ALLOWED))
    if not by_task:
        return leaf(NOT_ALLOWED)
    return case(by_task, value=task_class, else_=leaf(NOT_ALLOWED))
