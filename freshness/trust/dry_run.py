"""Policy dry run: recorded traffic judged under a candidate policy (SPEC §12). Nothing changes.

The candidate is validated as a reload would validate it (the same `PolicyInvalid` errors, a class
still used by a live source included). Then every chunk row of the records served in the window is
judged again with the pure verdict (policy.verdict) from what the row kept: the source class it was
judged under, its age at serve time, and whether it had expired (expiry is the content's own
`valid_until`, so no policy changes it). Ages are recorded to the second; a chunk recorded stale at
exactly its max age had passed it by a fraction of a second and is judged so.

What the candidate would have served is read from the chunks each record holds: those served then
that still pass, and those withheld then that now pass (each was ranked above the last chunk served,
or was scanned when too few passed). Chunks the search never handed over are not in the record, so a
candidate that withholds more cannot be credited with chunks further down the ranking, and one that
passes more is not cut back to top_k: the figures are what the recorded evidence shows, no more.

Speed: the rows are streamed in bulk with only the columns needed, and each distinct case (task
class, source class, age, expired) is judged once; a request's new status is then a few sums.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from freshness.models import Retrieval, RetrievalChunk
from freshness.policy.model import Policy
from freshness.policy.parse import parse_policy
from freshness.policy.verdict import Freshness, is_served, judge_for_task
from freshness.policy_repository import check_classes_in_use
from freshness.trust.schemas import DryRunClass, DryRunExamples, DryRunOut

EXAMPLES = 5
BATCH = 20_000
_NOW = datetime(2000, 1, 1, tzinfo=UTC)  # any fixed moment: only ages matter
_EXPIRED = _NOW - timedelta(seconds=1)

# What the candidate does with one chunk: served fresh, served warn, served stale or expired (flag),
# or withheld for the reason given.
FRESH, WARN, FLAGGED, STALE, EXPIRED, NOT_ALLOWED = range(6)
REASONS = {STALE: "stale", EXPIRED: "expired", NOT_ALLOWED: "not_allowed"}
_CODE = {Freshness.FRESH: FRESH, Freshness.WARN: WARN}


def _rows(session: Session, since: datetime, until: datetime, task_classes: Sequence[str] | None) -> Iterable:
    """(request_id, task_class, status, kind, source_class, age_seconds, freshness, max_age_seconds), grouped
    by request; a request without chunk rows comes once with kind None."""
    query = (
        select(Retrieval.request_id, Retrieval.task_class, Retrieval.status, RetrievalChunk.kind,
               RetrievalChunk.source_class, RetrievalChunk.age_seconds, RetrievalChunk.freshness,
               RetrievalChunk.max_age_seconds)
        .outerjoin(RetrievalChunk, RetrievalChunk.request_id == Retrieval.request_id)
        .where(Retrieval.served_at >= since, Retrieval.served_at <= until)
        .order_by(Retrieval.seq)
    )
    if task_classes is not None:
        query = query.where(Retrieval.task_class.in_(sorted(set(task_classes))))
    result = session.connection().execution_options(stream_results=True, yield_per=BATCH).execute(query)
    for batch in result.partitions():
        yield from batch


class _Judge:
    """The candidate's verdict of one case, each distinct case judged once."""

    def __init__(self, candidate: Policy) -> None:
        self.candidate = candidate
        self.cache: dict[tuple, int] = {}

    def __call__(self, task_class: str, source_class: str | None, age: int, freshness: str, max_age: int) -> int:
        # A stale verdict at exactly the recorded max age means the exact age passed it by a fraction.
        past = freshness == "stale" and age == max_age
        case = (task_class, source_class, age, freshness == "expired", past)
        code = self.cache.get(case)
        if code is None:
            code = self.cache[case] = self._judge(*case)
        return code

    def _judge(self, task_class: str, source_class: str | None, age: int, expired: bool, past: bool) -> int:
        task = self.candidate.task_classes[task_class]
        klass = self.candidate.source_classes.get(source_class or "")
        if klass is None or source_class is None or not task.allows(source_class):
            return NOT_ALLOWED
        verified_at = _NOW - timedelta(seconds=age + (0.5 if past else 0))
        verdict = judge_for_task(task, klass, verified_at, _EXPIRED if expired else None, _NOW)
        if not is_served(task, verdict):
            return EXPIRED if verdict.freshness is Freshness.EXPIRED else STALE
        return _CODE.get(verdict.freshness, FLAGGED)


@dataclass
class _Tally:
    task_class: str
    missing: bool
    requests: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=lambda: {"insufficient_context": 0, "flagged": 0, "ok": 0})
    examples: dict[str, list[str]] = field(default_factory=lambda: {"insufficient_context": [], "flagged": [],
                                                                     "ok": []})

    def out(self) -> DryRunClass:
        return DryRunClass(
            task_class=self.task_class, requests=self.requests, chunks_rejected=dict(sorted(self.rejected.items())),
            would_be_insufficient_context=self.changed["insufficient_context"],
            would_be_flagged=self.changed["flagged"], would_be_newly_ok=self.changed["ok"],
            unchanged=self.requests - sum(self.changed.values()),
            examples=DryRunExamples(insufficient_context=self.examples["insufficient_context"],
                                    flagged=self.examples["flagged"], newly_ok=self.examples["ok"]),
            missing_from_candidate=self.missing,
        )


def validate_candidate(session: Session, text: str) -> Policy:
    """The candidate as a reload would take it, or the reload's own `PolicyInvalid`."""
    candidate = parse_policy(text, origin="candidate policy")
    check_classes_in_use(session, candidate)
    return candidate


def dry_run(session: Session, text: str, current: Policy, since: datetime, until: datetime,
            task_classes: Sequence[str] | None = None) -> DryRunOut:
    candidate = validate_candidate(session, text)
    judge = _Judge(candidate)
    tallies: dict[str, _Tally] = {}
    records = chunks = 0
    request_id = None
    tally: _Tally | None = None
    status = ""
    usable = 0
    not_fresh = False

    def finish() -> None:
        assert tally is not None
        tally.requests += 1
        if tally.missing:
            return
        task = candidate.task_classes[tally.task_class]
        now = "insufficient_context" if usable < task.min_fresh_results else "flagged" if not_fresh else "ok"
        if now != status:
            tally.changed[now] += 1
            if len(tally.examples[now]) < EXAMPLES:
                tally.examples[now].append(request_id)  # type: ignore[arg-type]  # set with the tally

    for rid, task_class, recorded, kind, source_class, age, freshness, max_age in _rows(session, since, until,
                                                                                           task_classes):
        if rid != request_id:
            if tally is not None:
                finish()
            records += 1
            request_id, status, usable, not_fresh = rid, recorded, 0, False
            tally = tallies.get(task_class)
            if tally is None:
                tally = tallies[task_class] = _Tally(task_class, task_class not in candidate.task_classes)
        if kind is None or tally.missing:  # type: ignore[union-attr]  # set on the request's first row
            continue
        chunks += 1
        code = judge(task_class, source_class, age, freshness, max_age)
        if code <= FLAGGED:
            usable += code != FLAGGED
            not_fresh = not_fresh or code != FRESH
        elif kind == "served":
            reason = REASONS[code]
            tally.rejected[reason] = tally.rejected.get(reason, 0) + 1  # type: ignore[union-attr]
    if tally is not None:
        finish()
    return DryRunOut(
        candidate_version=candidate.version, current_version=current.version, since=since, until=until,
        records=records, chunks=chunks, task_classes=[tallies[name].out() for name in sorted(tallies)],
    )
