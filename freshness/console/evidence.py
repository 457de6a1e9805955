"""What SPEC §12 adds to the console, for auditors and admins as through the API: a request's outcome and
its replay against today's content, and the trust figures of a source's snapshots."""

from __future__ import annotations

from datetime import datetime

from litestar import Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy.orm import Session

from freshness.api import CurrentPolicy, ReadSession, Service, allow
from freshness.auth.guards import require_role
from freshness.auth.keys import Principal, Role
from freshness.console.pages import page
from freshness.errors import Forbidden, InvalidInput
from freshness.models import Outcome
from freshness.policy.model import Policy
from freshness.timeparse import parse_timestamp_or_ago
from freshness.trust.outcomes import outcome_out
from freshness.trust.replay import replay
from freshness.trust.report import trust_report
from freshness.trust.schemas import OutcomeOut, TrustGroup

POLICIES = ("current", "recorded")
TRUST_WINDOW = "30d"


def may_read_audit(principal: Principal) -> bool:
    """Auditors and admins read the audit log, and so what is derived from it (blast radius, trust)."""
    try:
        require_role(principal, Role.AUDITOR)
    except Forbidden:
        return False
    return True


def outcome_of(session: Session, request_id: str) -> OutcomeOut | None:
    row = session.get(Outcome, request_id)
    return outcome_out(row) if row is not None else None


def snapshot_trust(session: Session, source_id: str, since: str, now: datetime, policy: Policy) -> list[TrustGroup]:
    """`GET /v1/trust?by=snapshot` over the window, this source's snapshots only, newest first."""
    start = parse_timestamp_or_ago(since, "trust_since", now)
    if start > now:
        raise InvalidInput("trust_since is in the future; give a duration such as 30d or an earlier moment",
                           field="trust_since")
    report = trust_report(session, "snapshot", start, now, None, policy.trust)
    return [group for group in reversed(report.groups) if group.source_id == source_id]


@get("/requests/{request_id:str}/replay", guards=[allow(Role.AUDITOR)], include_in_schema=False,
     sync_to_thread=True)
def replay_page(request: Request, request_id: FromPath[str], reads: ReadSession, policy: CurrentPolicy,
                runtime: Service, against: FromQuery[str] = "current") -> Template:
    """The replay of `POST /v1/audit/retrievals/{id}/replay`: it reads only, so it is a page, not a form."""
    if against not in POLICIES:
        raise InvalidInput(f"against must be one of {', '.join(POLICIES)}", field="against")
    result = replay(runtime, reads, request_id, "recorded" if against == "recorded" else "current", policy)
    return page(request, "replay.html", result=result, against=against)
