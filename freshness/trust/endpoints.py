"""POST /v1/retrievals/{request_id}/outcome, GET /v1/trust, POST /v1/audit/retrievals/{request_id}/replay
and POST /v1/policy/dry-run (SPEC §12).

Outcomes are the one write here, in their own short transaction. Trust, replay and the dry run only
read: a replay writes no audit record and counts in no retrieval metric, a dry run changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import Body, PathParameter, QueryParameter

from freshness.api import (
    ADMIN_ONLY,
    Caller,
    CurrentPolicy,
    JSONBody,
    ReadSession,
    Service,
    ServiceClock,
    WriteSession,
    allow,
    problems,
)
from freshness.auth.keys import Role
from freshness.errors import InvalidInput
from freshness.sources.endpoints import OptionalBody
from freshness.timeparse import parse_timestamp_or_ago
from freshness.trust.dry_run import dry_run
from freshness.trust.outcomes import record_outcome
from freshness.trust.replay import replay
from freshness.trust.report import trust_report
from freshness.trust.schemas import (
    DryRunOut,
    DryRunRequest,
    OutcomeCreate,
    OutcomeOut,
    ReplayOut,
    ReplayRequest,
    TrustBy,
    TrustReport,
)

AUDITORS = allow(Role.AUDITOR)
READERS = allow(Role.READER)
RequestIdPath = Annotated[str, PathParameter(description="The request id the retrieval answered with")]


def window(since: str, until: str | None, now: datetime) -> tuple[datetime, datetime]:
    """`since` and `until` as moments: a duration counts back from now, a timestamp is taken as written."""
    start = parse_timestamp_or_ago(since, "since", now)
    end = now if until is None else parse_timestamp_or_ago(until, "until", now)
    if start > end:
        raise InvalidInput("since is later than until; give an earlier since or a later until", field="since")
    return start, end


class EvidenceController(Controller):
    path = "/"
    tags = ["trust"]

    @post("/retrievals/{request_id:str}/outcome", status_code=201, summary="Record what became of an answer",
          guards=[READERS], dto=JSONBody[OutcomeCreate], return_dto=None, sync_to_thread=True,
          responses=problems(400, 401, 403, 404, 409, 413, 422, 503))
    def outcome(self, data: Annotated[OutcomeCreate, Body()], request_id: RequestIdPath, principal: Caller,
                writes: WriteSession, clock: ServiceClock, runtime: Service) -> OutcomeOut:
        """By the reader key that made the request, or an admin; one outcome per request (a second is 409)."""
        stored = writes(lambda session: record_outcome(session, principal, request_id, data, clock.now()))
        runtime.metrics.observe_outcome(stored.task_class, stored.outcome, stored.edit_seconds)
        return stored

    @get("/trust", summary="Trust figures by task class, source or snapshot", guards=[AUDITORS],
         sync_to_thread=True, responses=problems(401, 403, 422, 503))
    def trust(
        self,
        reads: ReadSession,
        policy: CurrentPolicy,
        clock: ServiceClock,
        since: Annotated[str, QueryParameter(description="A duration back from now (7d) or an RFC 3339 timestamp",
                                             min_length=1, max_length=64)] = "7d",
        until: Annotated[str | None, QueryParameter(description="A duration back from now or an RFC 3339 "
                                                    "timestamp; default now", min_length=1, max_length=64)] = None,
        by: Annotated[TrustBy, QueryParameter(description="How retrievals are grouped")] = "task_class",
        task_class: Annotated[str | None, QueryParameter(description="Only retrievals of this task class",
                                                         min_length=1, max_length=128)] = None,
    ) -> TrustReport:
        """Over the retrievals served in the window; `worse` (by=snapshot) per the policy's [trust] table."""
        start, end = window(since, until, clock.now())
        return trust_report(reads, by, start, end, task_class, policy.trust)

    @post("/audit/retrievals/{request_id:str}/replay", status_code=200,
          summary="Re-run a recorded request against today's active snapshots", guards=[AUDITORS],
          dto=JSONBody[ReplayRequest], return_dto=None, sync_to_thread=True, operation_class=OptionalBody,
          responses=problems(400, 401, 403, 404, 409, 413, 422, 503))
    def replay(self, request_id: RequestIdPath, reads: ReadSession, policy: CurrentPolicy, runtime: Service,
               data: Annotated[ReplayRequest | None, Body()] = None) -> ReplayOut:
        """`recorded` judges with the record's policy version, so a content change is told apart from a policy
        change. The body may be left out: the policy in force then judges. A record that kept only its
        query's hash cannot be replayed (409)."""
        return replay(runtime, reads, request_id, (data or ReplayRequest()).policy, policy)

    @post("/policy/dry-run", status_code=200, summary="Judge recorded traffic under a candidate policy",
          guards=[ADMIN_ONLY], dto=JSONBody[DryRunRequest], return_dto=None, sync_to_thread=True,
          responses=problems(400, 401, 403, 413, 422, 503))
    def dry_run(self, data: Annotated[DryRunRequest, Body()], reads: ReadSession, policy: CurrentPolicy,
                clock: ServiceClock) -> DryRunOut:
        """The candidate is validated as a reload would (same errors); nothing changes."""
        start, end = window(data.since, data.until, clock.now())
        return dry_run(reads, data.policy, policy, start, end, data.task_classes)
