"""Audit pages (auditors and admins, as `GET /v1/audit/...`): a search over the audit filters, and one
request with its full provenance and whether its link of the hash chain holds."""

from __future__ import annotations

from typing import get_args

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.orm import Session

from freshness.api import CurrentPolicy, ReadSession, Service, allow
from freshness.audit import service
from freshness.audit.chain import GENESIS, record_hash
from freshness.audit.schemas import RetrievalStatus
from freshness.auth.keys import Role
from freshness.console.evidence import outcome_of
from freshness.console.pages import page
from freshness.errors import InvalidInput, NotFound
from freshness.models import Retrieval
from freshness.timeparse import parse_timestamp_or_ago

PAGE = 50
STATUSES: tuple[str, ...] = get_args(RetrievalStatus)


def chain_link(session: Session, record: Retrieval) -> str | None:
    """Why this record's link of the chain does not hold (None when it does): its content must hash to
    its `record_hash`, and its `prev_hash` must be the hash of the record before it."""
    if record_hash(record.prev_hash, record.content) != record.record_hash:
        return "its content does not match its record_hash: it was changed after it was written"
    if record.seq == 1:
        previous: str | None = GENESIS
    else:
        previous = session.scalar(select(Retrieval.record_hash).where(Retrieval.seq == record.seq - 1))
    if previous is None:
        return f"the record before it (seq {record.seq - 1}) is missing: it was deleted"
    if previous != record.prev_hash:
        return "its prev_hash is not the hash of the record before it: a record was changed, deleted or inserted"
    return None


class RequestPages(Controller):
    path = "/requests"
    guards = [allow(Role.AUDITOR)]
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def search(self, request: Request, reads: ReadSession, policy: CurrentPolicy, runtime: Service,
               snapshot_id: FromQuery[str] = "", source_id: FromQuery[str] = "", task_class: FromQuery[str] = "",
               status: FromQuery[str] = "", since: FromQuery[str] = "", until: FromQuery[str] = "",
               cursor: FromQuery[str] = "") -> Template:
        """The audit search of `GET /v1/audit/retrievals`, newest first, a page at a time."""
        form = {"snapshot_id": snapshot_id.strip(), "source_id": source_id.strip(),
                "task_class": task_class.strip(), "status": status.strip(), "since": since.strip(),
                "until": until.strip()}
        if form["status"] and form["status"] not in STATUSES:
            raise InvalidInput(f"status {form['status']!r} is not one of {', '.join(STATUSES)}", field="status")
        if form["task_class"]:
            service.check_task_class(reads, policy, form["task_class"])
        now = runtime.clock.now()
        moments = {name: parse_timestamp_or_ago(form[name], name, now) if form[name] else None
                   for name in ("since", "until")}
        position = runtime.cursors.decode(cursor or None) or {}
        rows = service.list_records(
            reads, snapshot_id=form["snapshot_id"] or None, source_id=form["source_id"] or None,
            task_class=form["task_class"] or None, status=form["status"] or None, since=moments["since"],
            until=moments["until"], before_seq=position.get("before"), limit=PAGE)
        more, rows = len(rows) > PAGE, rows[:PAGE]
        next_cursor = runtime.cursors.encode({"before": rows[-1].seq}) if more else None
        return page(request, "requests.html", form=form, statuses=STATUSES,
                    task_classes=sorted(policy.task_classes), items=[service.summary(r) for r in rows],
                    next_cursor=next_cursor, first_page=not cursor)

    @get("/{request_id:str}", sync_to_thread=True)
    def show(self, request: Request, request_id: FromPath[str], reads: ReadSession) -> Template:
        """As it was served: ages and verified_at at serve time, each snapshot also with its state now."""
        row = reads.get(Retrieval, request_id)
        if row is None:
            raise NotFound(f"no retrieval with request id {request_id!r}")
        record = service.audit_record(service.record_view(reads, row))
        return page(request, "request.html", record=record, chain_problem=chain_link(reads, row),
                    outcome=outcome_of(reads, request_id))
