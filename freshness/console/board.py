"""The freshness board (any role, as `GET /v1/freshness`): every live source's status, worst first."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, get
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template

from freshness.api import CurrentPolicy, ReadSession, ServiceClock
from freshness.console.pages import page
from freshness.errors import InvalidInput
from freshness.sources.report import STATUSES, count_by_status, freshness_report
from freshness.sources.service import require_known_class

PAGE = 50
# What needs a person first: a refresh that keeps failing and content past its age, then content that
# never arrived, then what is only getting old.
WORST_FIRST = ("failing", "expired", "stale", "never_published", "warn", "fresh")


@get("/freshness", include_in_schema=False, sync_to_thread=True)
def board(request: Request, reads: ReadSession, policy: CurrentPolicy, clock: ServiceClock,
          owner: FromQuery[str] = "", source_class: FromQuery[str] = "", status: FromQuery[str] = "",
          page_number: Annotated[int, QueryParameter(name="page", ge=1)] = 1) -> Template:
    owner, source_class, status = owner.strip(), source_class.strip(), status.strip()
    if source_class:
        require_known_class(policy, source_class)
    if status and status not in STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(STATUSES)}", field="status")
    now = clock.now()
    rows = freshness_report(reads, policy, now, source_class=source_class or None, owner=owner or None)
    counts = count_by_status(rows)
    chosen = [row for row in rows if not status or row.status == status]
    chosen.sort(key=lambda row: (WORST_FIRST.index(row.status), row.source_id))
    start = (page_number - 1) * PAGE
    return page(request, "board.html", rows=chosen[start:start + PAGE], counts=counts, statuses=WORST_FIRST,
                classes=sorted(policy.source_classes), form={"owner": owner, "source_class": source_class,
                                                              "status": status},
                page_number=page_number, has_next=len(chosen) > start + PAGE, total=len(chosen), generated_at=now)
