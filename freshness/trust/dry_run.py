"""Policy dry run: recorded traffic judged under a candidate policy (SPEC §12). Nothing changes.

The candidate is validated as a reload would validate it (the same `PolicyInvalid` errors, a class
still used by a live source included). Then every chunk row of the records served in the window is
judged again from what the row kept: the source class it was judged under, its age at serve time,
and whether it had expired (trust.cases: each distinct case judged once by the pure verdict).

What the candidate would have served is read from the chunks each record holds: those served then
that still pass, and those withheld then that now pass (each was ranked above the last chunk served,
or was scanned when too few passed). Chunks the search never handed over are not in the record, so a
candidate that withholds more cannot be credited with chunks further down the ranking, and one that
passes more is not cut back to top_k: the figures are what the recorded evidence shows, no more.

Speed: the database does the counting. One aggregate reads only the columns needed, puts each chunk
row in its case, sums per request (usable chunks, any not fresh, served chunks now withheld by
reason), gives each request its new status, and answers both the sums per task class and change and
a few example request ids of each change: one statement, so the database judges the records once
(the judged requests are a common table expression read twice). Nothing is loaded record by record.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    CompoundSelect,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from freshness.models import Retrieval, RetrievalChunk
from freshness.policy.model import Policy
from freshness.policy.parse import parse_policy
from freshness.policy_repository import check_classes_in_use
from freshness.trust.cases import EXPIRED, FLAGGED, FRESH, NOT_ALLOWED, STALE, WARN, code_of_row
from freshness.trust.schemas import DryRunClass, DryRunExamples, DryRunOut

EXAMPLES = 5
MISSING = "missing"  # the candidate has no such task class
CHANGES = ("insufficient_context", "flagged", "ok")


def validate_candidate(session: Session, text: str) -> Policy:
    """The candidate as a reload would take it, or the reload's own `PolicyInvalid`."""
    candidate = parse_policy(text, origin="candidate policy")
    check_classes_in_use(session, candidate)
    return candidate


# Each chunk row adds one number to its request's sum, with a field per count: usable chunks, chunks
# not fresh, and served chunks now withheld as stale, expired or not allowed. A record holds at most
# 10 x top_k scanned chunks (1,000), so a field of 2^11 never carries into the next.
FIELD = 2**11
_WEIGHTS = {FRESH: 1, WARN: 1 + FIELD, FLAGGED: FIELD, STALE: FIELD**2, EXPIRED: FIELD**3, NOT_ALLOWED: FIELD**4}
_FIELDS = ("usable", "not_fresh", "stale", "expired", "not_allowed")


def _judged(candidate: Policy, since: datetime, until: datetime, task_classes: Sequence[str] | None) -> CTE:
    """One row per request: its recorded status, its status under the candidate, served chunks withheld."""
    records = Retrieval.__table__
    chunks = RetrievalChunk.__table__

    def weight(code: int) -> ColumnElement[int]:
        # 64-bit throughout: PostgreSQL would take a bare literal for a 32-bit integer, and its sum of
        # 64-bit integers is a decimal, which would divide into fractions.
        value = literal(_WEIGHTS[code], BigInteger)
        if code in (STALE, EXPIRED, NOT_ALLOWED):  # counted only for chunks served then
            return case((chunks.c.kind == "served", value), else_=literal(0, BigInteger))
        return value

    total = cast(func.coalesce(func.sum(code_of_row(candidate, records.c.task_class, chunks, weight)), 0), BigInteger)
    per_request = (
        select(records.c.seq, records.c.request_id, records.c.task_class, records.c.status,
               func.count(chunks.c.id).label("chunks"), total.label("total"))
        .select_from(records.outerjoin(chunks, chunks.c.request_id == records.c.request_id))
        .where(records.c.served_at >= since, records.c.served_at <= until)
        .group_by(records.c.request_id)  # the primary key: the other columns follow from it
    )
    if task_classes is not None:
        per_request = per_request.where(records.c.task_class.in_(sorted(set(task_classes))))
    requests = per_request.subquery("requests")
    fields = {name: (requests.c.total // FIELD**place) % FIELD for place, name in enumerate(_FIELDS)}
    known = sorted(candidate.task_classes)
    min_fresh = case({name: t.min_fresh_results for name, t in candidate.task_classes.items()},
                     value=requests.c.task_class, else_=0)
    now = case(
        (requests.c.task_class.not_in(known) if known else literal(True), literal(MISSING)),
        (fields["usable"] < min_fresh, literal("insufficient_context")),
        (fields["not_fresh"] > 0, literal("flagged")),
        else_=literal("ok"),
    )
    return select(requests.c.seq, requests.c.request_id, requests.c.task_class, requests.c.status,
                  requests.c.chunks, *(fields[name].label(name) for name in _FIELDS[2:]),
                  now.label("now")).cte("judged")


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def dry_run(session: Session, text: str, current: Policy, since: datetime, until: datetime,
            task_classes: Sequence[str] | None = None) -> DryRunOut:
    candidate = validate_candidate(session, text)
    classes: dict[str, dict] = {}
    examples: dict[str, dict[str, list[str]]] = {}
    records = chunks = 0
    for row in session.execute(_statement(candidate, since, until, task_classes)):
        if row.part == "example":
            examples.setdefault(row.task_class, {}).setdefault(row.now, []).append(row.request_id)
            continue
        entry = classes.setdefault(row.task_class, {"requests": 0, "rejected": {}, "missing": row.now == MISSING,
                                                    "changed": dict.fromkeys(CHANGES, 0)})
        entry["requests"] += int(row.requests)
        records, chunks = records + int(row.requests), chunks + int(row.chunks or 0)
        for reason in ("stale", "expired", "not_allowed"):
            count = int(getattr(row, reason) or 0)
            if count:
                entry["rejected"][reason] = entry["rejected"].get(reason, 0) + count
        if row.now in CHANGES:
            entry["changed"][row.now] += int(row.moved)
    return DryRunOut(
        candidate_version=candidate.version, current_version=current.version, since=since, until=until,
        records=records, chunks=chunks,
        task_classes=[_class_out(name, classes[name], examples.get(name, {})) for name in sorted(classes)],
    )


def _statement(candidate: Policy, since: datetime, until: datetime,
               task_classes: Sequence[str] | None) -> CompoundSelect:
    """One statement, so the records are judged once: the sums per task class and new status, then the
    newest few request ids of each change (rows with `part` "example")."""
    judged = _judged(candidate, since, until, task_classes)
    changed = and_(judged.c.now != judged.c.status, judged.c.now != MISSING)
    none = literal(None, BigInteger)
    totals = (
        select(literal("total").label("part"), judged.c.task_class, judged.c.now,
               cast(func.count(), BigInteger).label("requests"),
               *(cast(func.sum(judged.c[name]), BigInteger).label(name) for name in ("chunks", "stale", "expired",
                                                                                      "not_allowed")),
               cast(_count(changed), BigInteger).label("moved"), literal(None, String).label("request_id"))
        .group_by(judged.c.task_class, judged.c.now)
    )
    rank = func.row_number().over(partition_by=(judged.c.task_class, judged.c.now), order_by=judged.c.seq.desc())
    ranked = select(judged.c.task_class, judged.c.now, judged.c.request_id, rank.label("rank")).where(
        changed).subquery("ranked")
    picked = select(literal("example"), ranked.c.task_class, ranked.c.now, none, none, none, none, none, none,
                    ranked.c.request_id).where(ranked.c.rank <= EXAMPLES)
    return union_all(totals, picked)


def _class_out(name: str, entry: dict, examples: dict[str, list[str]]) -> DryRunClass:
    changed = entry["changed"]
    return DryRunClass(
        task_class=name, requests=entry["requests"], chunks_rejected=dict(sorted(entry["rejected"].items())),
        would_be_insufficient_context=changed["insufficient_context"], would_be_flagged=changed["flagged"],
        would_be_newly_ok=changed["ok"], unchanged=entry["requests"] - sum(changed.values()),
        examples=DryRunExamples(insufficient_context=examples.get("insufficient_context", []),
                                flagged=examples.get("flagged", []), newly_ok=examples.get("ok", [])),
        missing_from_candidate=entry["missing"],
    )
