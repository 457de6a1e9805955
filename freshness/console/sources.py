"""The source page (any role, as `GET /v1/sources/{id}` and its history): the snapshot timeline, a
document-level diff between any two snapshots, and, for the owner's publishers and admins, verify and
retire, each behind a confirmation page. The changes call the same services as the API, with the same
owner check (`require_owner`), in one write transaction."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.orm import Session

from freshness.api import Caller, CurrentPolicy, ReadSession, Service, ServiceClock, Store, WriteSession
from freshness.auth.guards import require_owner
from freshness.auth.keys import Principal
from freshness.console.diff import DiffLine, compare, document_lines, text_diff
from freshness.console.evidence import TRUST_WINDOW, may_read_audit, snapshot_trust
from freshness.console.pages import page
from freshness.errors import Forbidden, InvalidInput
from freshness.models import Snapshot
from freshness.sources import service, serving, snapshots
from freshness.sources.views import source_out

TIMELINE_PAGE = 20
CHOICES = 200  # snapshots offered in the diff's lists, newest first


def may_change(principal: Principal, owner: str) -> bool:
    try:
        require_owner(principal, owner)
    except Forbidden:
        return False
    return True


def _of_source(reads: Session, snapshot_id: str, source_id: str, field: str) -> Snapshot:
    snapshot = snapshots.get_snapshot(reads, snapshot_id)
    if snapshot.source_id != source_id:
        raise InvalidInput(f"{field}: snapshot {snapshot_id!r} belongs to source {snapshot.source_id!r}, "
                           f"not {source_id!r}", field=field)
    return snapshot


def _diff(reads: Session, source_id: str, base_id: str, head_id: str, document: str) -> dict:
    base = _of_source(reads, base_id, source_id, "base")
    head = _of_source(reads, head_id, source_id, "head")
    changes = compare(snapshots.snapshot_documents(reads, base.id), snapshots.snapshot_documents(reads, head.id))
    shown = next((c for c in changes if c.change == "changed" and c.document_id == document), None)
    lines: list[DiffLine] = []
    hidden = 0
    if shown is not None:
        lines, hidden = text_diff(document_lines(reads, base.id, document), document_lines(reads, head.id, document),
                                  base.id, head.id)
    return {"base": base, "head": head, "changes": changes, "document": shown, "lines": lines, "hidden": hidden}


class SourcePages(Controller):
    path = "/sources"
    include_in_schema = False

    @get("/{source_id:str}", sync_to_thread=True)
    def show(self, request: Request, source_id: FromPath[str], reads: ReadSession, policy: CurrentPolicy,
             clock: ServiceClock, principal: Caller, runtime: Service, cursor: FromQuery[str] = "",
             base: FromQuery[str] = "", head: FromQuery[str] = "", document: FromQuery[str] = "",
             done: FromQuery[str] = "", trust_since: FromQuery[str] = TRUST_WINDOW) -> Template:
        source = service.get_source(reads, source_id)
        detail = source_out(source, service.active_snapshot(reads, source), policy, clock.now())
        position = runtime.cursors.decode(cursor or None) or {}
        rows = snapshots.history(reads, source_id, position.get("before"), TIMELINE_PAGE)
        more, timeline = len(rows) > TIMELINE_PAGE, rows[:TIMELINE_PAGE]
        choices = snapshots.history(reads, source_id, None, CHOICES)[:CHOICES]
        diff = _diff(reads, source_id, base.strip(), head.strip(), document) if base and head else None
        if diff is None and len(choices) >= 2:
            base, head = choices[1].id, choices[0].id
        trust = snapshot_trust(reads, source_id, trust_since.strip(), clock.now(), policy) \
            if may_read_audit(principal) else None
        return page(request, "source.html", source=detail, trust=trust, trust_since=trust_since, timeline=timeline,
                    choices=choices, diff=diff,
                    form={"base": base, "head": head},
                    next_cursor=runtime.cursors.encode({"before": timeline[-1].id}) if more else None,
                    first_page=not cursor, may_change=may_change(principal, source.owner), done=done)

    @get("/{source_id:str}/verify", sync_to_thread=True)
    def confirm_verify(self, request: Request, source_id: FromPath[str], reads: ReadSession,
                       principal: Caller) -> Template:
        source = service.get_source(reads, source_id)
        require_owner(principal, source.owner)
        return page(request, "confirm.html", action="verify", source=source,
                    snapshot=service.active_snapshot(reads, source), target=f"/console/sources/{source_id}/verify")

    @post("/{source_id:str}/verify", sync_to_thread=True, status_code=303)
    def verify(self, source_id: FromPath[str], principal: Caller, writes: WriteSession,
               clock: ServiceClock) -> Redirect:
        now = clock.now()
        writes(lambda session: snapshots.verify(session, principal, source_id, now))
        return Redirect(f"/console/sources/{source_id}?done=verified", status_code=303)

    @get("/{source_id:str}/retire", sync_to_thread=True)
    def confirm_retire(self, request: Request, source_id: FromPath[str], reads: ReadSession,
                       principal: Caller) -> Template:
        source = service.get_source(reads, source_id)
        require_owner(principal, source.owner)
        return page(request, "confirm.html", action="retire", source=source,
                    snapshot=service.active_snapshot(reads, source), target=f"/console/sources/{source_id}/retire")

    @post("/{source_id:str}/retire", sync_to_thread=True, status_code=303)
    def retire(self, source_id: FromPath[str], principal: Caller, writes: WriteSession,
               clock: ServiceClock, store: Store) -> Redirect:
        now = clock.now()
        _, done = writes(lambda session: service.retire_source(session, principal, source_id, now))
        serving.finish(writes.sessions, store, done)
        return Redirect(f"/console/sources/{source_id}?done=retired", status_code=303)
