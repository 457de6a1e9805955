"""The snapshot page (any role, as `GET /v1/snapshots/{id}`): its documents; for auditors and admins (who
may search the audit log) its blast radius: how many requests it served, the newest, and an export of
them. Roll back or forward (activate) behind a confirmation, for the owner's publishers and admins."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from freshness.api import Caller, ReadSession, ServiceClock, Store, WriteSession, allow
from freshness.audit import service as audit
from freshness.audit.endpoints import EXPORT_MAX, NDJSON
from freshness.auth.guards import require_owner
from freshness.auth.keys import Role
from freshness.console.evidence import may_read_audit
from freshness.console.pages import page
from freshness.console.sources import may_change
from freshness.models import Retrieval, RetrievalChunk
from freshness.sources import service, serving, snapshots

DOCUMENTS_PAGE = 100


def blast_radius(session: Session, snapshot_id: str) -> dict:
    """Requests that were served chunks of the snapshot, and the newest of them, from the chunk index."""
    served = (RetrievalChunk.snapshot_id == snapshot_id, RetrievalChunk.kind == "served")
    count = session.scalar(select(func.count(distinct(RetrievalChunk.seq))).where(*served)) or 0
    refused = session.scalar(select(func.count(distinct(RetrievalChunk.seq))).where(
        RetrievalChunk.snapshot_id == snapshot_id, RetrievalChunk.kind == "rejected")) or 0
    newest_seq = session.scalar(select(func.max(RetrievalChunk.seq)).where(*served))
    newest = session.scalar(select(Retrieval).where(Retrieval.seq == newest_seq)) if newest_seq else None
    return {"served": count, "refused": refused, "newest": audit.summary(newest) if newest else None}


class SnapshotPages(Controller):
    path = "/snapshots"
    include_in_schema = False

    @get("/{snapshot_id:str}", sync_to_thread=True)
    def show(self, request: Request, snapshot_id: FromPath[str], reads: ReadSession, principal: Caller,
             page_number: Annotated[int, QueryParameter(name="page", ge=1)] = 1) -> Template:
        snapshot = snapshots.get_snapshot(reads, snapshot_id)
        source = service.get_source(reads, snapshot.source_id)
        documents = snapshots.snapshot_documents(reads, snapshot_id)
        start = (page_number - 1) * DOCUMENTS_PAGE
        radius = blast_radius(reads, snapshot_id) if may_read_audit(principal) else None
        return page(request, "snapshot.html", snapshot=snapshot, source=source,
                    documents=documents[start:start + DOCUMENTS_PAGE], page_number=page_number,
                    has_next=len(documents) > start + DOCUMENTS_PAGE, radius=radius,
                    may_change=may_change(principal, source.owner) and source.retired_at is None,
                    api_export=f"/v1/audit/retrievals?snapshot_id={snapshot_id}&format=jsonl")

    @get("/{snapshot_id:str}/export", guards=[allow(Role.AUDITOR)], sync_to_thread=True)
    def export(self, snapshot_id: FromPath[str], reads: ReadSession) -> Response[bytes]:
        """The API's JSON Lines export of the records that used this snapshot, for a signed-in browser."""
        snapshots.get_snapshot(reads, snapshot_id)
        rows = audit.list_records(reads, snapshot_id=snapshot_id, source_id=None, task_class=None, status=None,
                                  since=None, until=None, before_seq=None, limit=EXPORT_MAX)[:EXPORT_MAX]
        body = b"".join(msgspec.json.encode(audit.record_view(reads, r)) + b"\n" for r in rows)
        return Response(body, media_type=NDJSON, headers={
            "Content-Disposition": f'attachment; filename="requests-{snapshot_id}.jsonl"'})

    @get("/{snapshot_id:str}/activate", sync_to_thread=True)
    def confirm_activate(self, request: Request, snapshot_id: FromPath[str], reads: ReadSession,
                         principal: Caller) -> Template:
        snapshot = snapshots.get_snapshot(reads, snapshot_id)
        source = service.get_source(reads, snapshot.source_id)
        require_owner(principal, source.owner)
        return page(request, "confirm.html", action="activate", source=source, snapshot=snapshot,
                    active=service.active_snapshot(reads, source), target=f"/console/snapshots/{snapshot_id}/activate")

    @post("/{snapshot_id:str}/activate", sync_to_thread=True, status_code=303)
    def activate(self, snapshot_id: FromPath[str], principal: Caller, writes: WriteSession,
                 clock: ServiceClock, store: Store) -> Redirect:
        now = clock.now()
        activated, done = writes(lambda session: snapshots.activate(session, principal, snapshot_id, now, store))
        serving.finish(writes.sessions, store, done)
        source_id = activated.source_id
        return Redirect(f"/console/sources/{source_id}?done=activated", status_code=303)
