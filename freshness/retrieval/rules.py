"""The answer rules of SPEC §3 as a pure function: which ranked candidates are served, which are listed
as rejected, and the status of the answer.

`decide` takes the candidates in ranking order with the facts their verdicts need, the policy and
`now`; it reads no database, no store and no clock. The caller hands it at least `scan_limit(top_k)`
candidates (rule 5), or all there are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from freshness.policy.model import SourceClass, TaskClass
from freshness.policy.verdict import Freshness, Verdict, is_served, judge_for_task

SCAN_FACTOR = 10


class Status(StrEnum):
    OK = "ok"
    FLAGGED = "flagged"
    INSUFFICIENT_CONTEXT = "insufficient_context"


class Facts(Protocol):
    """What a candidate's verdict depends on: its source's class and its snapshot's times."""

    @property
    def source_class(self) -> str: ...

    @property
    def verified_at(self) -> datetime: ...

    @property
    def valid_until(self) -> datetime | None: ...


C = TypeVar("C", bound=Facts)


@dataclass(frozen=True)
class Judged(Generic[C]):
    position: int  # in the ranking handed to `decide`, 0 first
    candidate: C
    verdict: Verdict


@dataclass(frozen=True)
class Decision(Generic[C]):
    served: list[Judged[C]]  # in ranking order, at most top_k
    rejected: list[Judged[C]]  # in ranking order
    status: Status


def scan_limit(top_k: int) -> int:
    """How many candidates the search must hand over so that rejections do not shrink the answer."""
    return top_k * SCAN_FACTOR


def decide(task: TaskClass, source_classes: Mapping[str, SourceClass], ranked: Sequence[C], top_k: int,
           now: datetime) -> Decision[C]:
    """Rules 3 to 6 over one ranking.

    A candidate of a class the task may not use, or that the policy does not know, is no candidate
    (rule 4): neither served nor listed. The scan stops at the top_k-th chunk served, so `rejected`
    holds exactly the rejections ranked above the last chunk served, or every one scanned when fewer
    than top_k passed (rule 5)."""
    served: list[Judged[C]] = []
    rejected: list[Judged[C]] = []
    for position, candidate in enumerate(ranked):
        if len(served) >= top_k:
            break
        klass = source_classes.get(candidate.source_class)
        if klass is None or not task.allows(candidate.source_class):
            continue
        verdict = judge_for_task(task, klass, candidate.verified_at, candidate.valid_until, now)
        (served if is_served(task, verdict) else rejected).append(Judged(position, candidate, verdict))
    return Decision(served, rejected, status_of(task, [judged.verdict for judged in served]))


def status_of(task: TaskClass, served: Sequence[Verdict]) -> Status:
    """Rule 6: too few fresh or warn chunks served is insufficient context; any not fresh flags the answer."""
    if sum(1 for verdict in served if verdict.usable) < task.min_fresh_results:
        return Status.INSUFFICIENT_CONTEXT
    if any(verdict.freshness is not Freshness.FRESH for verdict in served):
        return Status.FLAGGED
    return Status.OK
