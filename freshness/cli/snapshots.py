"""`freshness snapshots list SOURCE | show ID` and `freshness activate SNAPSHOT`: a source's history, one
snapshot's documents, and a roll back or forward. They touch only the database, so they work in-process
while `serve` runs; with FRESHNESS_API_URL and FRESHNESS_KEY they go through the service."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.table import Table

from freshness.cli.common import (
    OPERATOR,
    emit_json,
    fail,
    fmt_time,
    handled,
    json_option,
    now,
    out,
    read_settings,
    sessions_for,
)
from freshness.cli.remote import api_options, service, store_held
from freshness.errors import StoreLocked

if TYPE_CHECKING:
    from freshness.sources.schemas import SnapshotDetail, SnapshotOut

PAGE = 500


@click.group()
def snapshots() -> None:
    """A source's snapshots: its history, and one snapshot's documents."""


@snapshots.command("list")
@click.argument("source_id")
@api_options
@json_option
@handled
def snapshots_list(source_id: str, api_url: str | None, key: str | None, as_json: bool) -> None:
    """SOURCE's snapshots, newest first."""
    if api_url:
        with service(api_url, key) as client:
            views = list(client.snapshots(source_id, page_size=PAGE))
    else:
        views = _history(source_id)
    if as_json:
        emit_json(views)
        return
    table = Table("snapshot", "version", "state", "captured", "verified", "valid until", "documents", "chunks")
    for s in views:
        table.add_row(s.id, s.version or "", s.state, fmt_time(s.captured_at), fmt_time(s.verified_at),
                      fmt_time(s.valid_until), str(s.document_count), str(s.chunk_count))
    out.print(table)


def _history(source_id: str) -> list[SnapshotOut]:
    from freshness.db import read_scope
    from freshness.sources.snapshots import history
    from freshness.sources.views import snapshot_out

    views: list[SnapshotOut] = []
    before = None
    with read_scope(sessions_for(read_settings())) as session:
        while True:
            rows = history(session, source_id, before, PAGE)
            views += [snapshot_out(s) for s in rows[:PAGE]]
            if len(rows) <= PAGE:
                return views
            before = rows[PAGE - 1].id


@snapshots.command("show")
@click.argument("snapshot_id")
@api_options
@json_option
@handled
def snapshots_show(snapshot_id: str, api_url: str | None, key: str | None, as_json: bool) -> None:
    """One snapshot with its documents (ids, titles, hashes, chunk counts)."""
    if api_url:
        with service(api_url, key) as client:
            detail = client.get_snapshot(snapshot_id)
    else:
        detail = _detail(snapshot_id)
    if as_json:
        emit_json(detail)
        return
    out.print(f"snapshot {detail.id} of {detail.source_id}  version {detail.version or '-'}  {detail.state}",
              highlight=False)
    out.print(f"captured {fmt_time(detail.captured_at)}  verified {fmt_time(detail.verified_at)}"
              + (f"  valid until {fmt_time(detail.valid_until)}" if detail.valid_until else "")
              + f"  content {detail.content_hash}", highlight=False)
    table = Table("document", "title", "chunks", "content hash", "uri")
    for d in detail.documents:
        table.add_row(d.id, d.title or "", str(d.chunk_count), d.content_hash, d.uri or "")
    out.print(table)


def _detail(snapshot_id: str) -> SnapshotDetail:
    from freshness.db import read_scope
    from freshness.sources.snapshots import get_snapshot, snapshot_documents
    from freshness.sources.views import snapshot_detail

    with read_scope(sessions_for(read_settings())) as session:
        return snapshot_detail(get_snapshot(session, snapshot_id), snapshot_documents(session, snapshot_id))


@click.command()
@click.argument("snapshot_id")
@click.option("--source", "source_id", default=None, help="Only if the snapshot belongs to this source.")
@api_options
@json_option
@handled
def activate(snapshot_id: str, source_id: str | None, api_url: str | None, key: str | None, as_json: bool) -> None:
    """Make a retained SNAPSHOT active again (roll back or forward); the active one is superseded."""
    if api_url:
        with service(api_url, key) as client:
            view = client.activate(snapshot_id, source_id=source_id)
    else:
        from freshness.db import transaction
        from freshness.runtime import open_runtime
        from freshness.sources import serving
        from freshness.sources.snapshots import activate as run_activate
        from freshness.sources.views import snapshot_out

        # The points the snapshot serves are marked in the store as it becomes active: that needs the store.
        try:
            runtime = open_runtime(read_settings())
        except StoreLocked:
            fail(store_held("freshness activate"))
        try:
            activated, done = transaction(runtime.sessions, lambda session: run_activate(
                session, OPERATOR, snapshot_id, now(), runtime.store, source_id))
            serving.finish(runtime.sessions, runtime.store, done)
            view = snapshot_out(activated)
        finally:
            runtime.close()
    if as_json:
        emit_json(view)
        return
    out.print(f"{view.id} of {view.source_id} (version {view.version or '-'}) is active", highlight=False)
