"""The freshness verdict: a pure function of policy facts, snapshot facts and `now`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from freshness.policy.model import OnStale, SourceClass, TaskClass


class Freshness(StrEnum):
    FRESH = "fresh"
    WARN = "warn"
    STALE = "stale"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Verdict:
    freshness: Freshness
    age_seconds: int
    max_age_seconds: int

    @property
    def usable(self) -> bool:
        """Fresh or warn: counts towards `min_fresh_results`."""
        return self.freshness in (Freshness.FRESH, Freshness.WARN)


def age_seconds(verified_at: datetime, now: datetime) -> int:
    return max(0, int((now - verified_at).total_seconds()))


def judge(
    max_age: int,
    warn_age: int | None,
    verified_at: datetime,
    valid_until: datetime | None,
    now: datetime,
) -> Verdict:
    """SPEC §3 rule 2: expired beats stale beats warn beats fresh."""
    age = age_seconds(verified_at, now)
    # Compare the exact age: the whole seconds reported would let a chunk up to 999 ms past its max age pass.
    elapsed = (now - verified_at).total_seconds()
    if valid_until is not None and valid_until < now:
        freshness = Freshness.EXPIRED
    elif elapsed > max_age:
        freshness = Freshness.STALE
    elif warn_age is not None and elapsed > warn_age:
        freshness = Freshness.WARN
    else:
        freshness = Freshness.FRESH
    return Verdict(freshness=freshness, age_seconds=age, max_age_seconds=max_age)


def judge_for_task(
    task: TaskClass,
    source_class: SourceClass,
    verified_at: datetime,
    valid_until: datetime | None,
    now: datetime,
) -> Verdict:
    """The verdict under the task class's max age for this source class (rule 1)."""
    max_age = task.max_age_for(source_class)
    warn_age = source_class.warn_age
    if warn_age is not None and warn_age >= max_age:
        # A tighter task max age makes the class's warning threshold meaningless.
        warn_age = None
    return judge(max_age, warn_age, verified_at, valid_until, now)


def is_served(task: TaskClass, verdict: Verdict) -> bool:
    """Rule 3: a reject class never serves stale or expired chunks."""
    if task.on_stale is OnStale.REJECT:
        return verdict.usable
    return True
