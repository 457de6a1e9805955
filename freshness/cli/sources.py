"""`freshness sources add | list | retire`: register sources, see them with their freshness, retire them.

They touch only the database, so they work in-process while `serve` runs; with FRESHNESS_API_URL and
FRESHNESS_KEY they go through the service instead."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.table import Table

from freshness.cli.common import (
    OPERATOR,
    convert,
    emit_json,
    fmt_age,
    fmt_time,
    handled,
    json_option,
    now,
    out,
    read_settings,
    sessions_for,
)
from freshness.cli.policy import policy_in_force
from freshness.cli.remote import api_options, service

if TYPE_CHECKING:
    from freshness.sources.schemas import SourceOut

PAGE = 500


@click.group()
def sources() -> None:
    """Register, list and retire sources."""


@sources.command("add")
@click.argument("source_id")
@click.option("--title", required=True)
@click.option("--owner", required=True)
@click.option("--class", "source_class", required=True, help="A source class of the policy.")
@click.option("--uri", default=None)
@click.option("--refresh-interval", default=None, help="e.g. 1h, 1d, PT30M")
@click.option("--tag", "tags", multiple=True)
@api_options
@json_option
@handled
def sources_add(source_id: str, title: str, owner: str, source_class: str, uri: str | None,
                refresh_interval: str | None, tags: tuple[str, ...], api_url: str | None, key: str | None,
                as_json: bool) -> None:
    """Register a source."""
    from freshness.db import session_scope
    from freshness.refresh.reach import SourceReach
    from freshness.sources.schemas import SourceCreate
    from freshness.sources.service import register_source
    from freshness.sources.views import source_out

    body = convert(
        SourceCreate,
        {"id": source_id, "title": title, "owner": owner, "source_class": source_class, "uri": uri,
         "refresh_interval": refresh_interval, "tags": list(tags)},
    )
    if api_url:
        with service(api_url, key) as client:
            view = client.register_source(source_id, title=title, owner=owner, source_class=source_class, uri=uri,
                                          refresh_interval=refresh_interval, tags=list(tags))
    else:
        settings = read_settings()
        moment = now()
        with session_scope(sessions_for(settings)) as session:
            policy = policy_in_force(settings, session)
            source = register_source(session, OPERATOR, body, policy, moment, SourceReach.of(settings))
            view = source_out(source, None, policy, moment)
    if as_json:
        emit_json(view)
        return
    out.print(f"registered {source_id} ({source_class}, owner {owner})", highlight=False)


@sources.command("list")
@click.option("--owner", default=None)
@click.option("--class", "source_class", default=None)
@click.option("--include-retired", is_flag=True)
@api_options
@json_option
@handled
def sources_list(owner: str | None, source_class: str | None, include_retired: bool, api_url: str | None,
                 key: str | None, as_json: bool) -> None:
    """Sources with their active snapshot and freshness."""
    if api_url:
        with service(api_url, key) as client:
            views = list(client.list_sources(owner=owner, source_class=source_class, include_retired=include_retired,
                                             page_size=PAGE))
    else:
        views = _list_in_process(owner, source_class, include_retired)
    if as_json:
        emit_json(views)
        return
    table = Table("id", "class", "owner", "active snapshot", "version", "status", "age")
    for view in views:
        snap = view.active_snapshot
        assert view.freshness is not None  # source_out always sets it
        status = "retired" if view.retired_at else view.freshness.status
        table.add_row(view.id, view.source_class, view.owner, snap.id if snap else "",
                      (snap.version or "") if snap else "", status, fmt_age(view.freshness.age_seconds))
    out.print(table)


def _list_in_process(owner: str | None, source_class: str | None, include_retired: bool) -> list[SourceOut]:
    from freshness.db import read_scope
    from freshness.sources.service import active_snapshot, list_sources, require_known_class
    from freshness.sources.views import source_out

    settings = read_settings()
    moment, views = now(), []
    with read_scope(sessions_for(settings)) as session:
        policy = policy_in_force(settings, session)
        if source_class is not None:
            require_known_class(policy, source_class, field="--class")
        after = None
        while True:
            rows = list_sources(session, owner=owner, source_class=source_class, include_retired=include_retired,
                                after=after, limit=PAGE)
            views += [source_out(source, active_snapshot(session, source), policy, moment) for source in rows[:PAGE]]
            if len(rows) <= PAGE:
                break
            after = rows[PAGE - 1].id
    return views


@sources.command("retire")
@click.argument("source_id")
@api_options
@json_option
@handled
def sources_retire(source_id: str, api_url: str | None, key: str | None, as_json: bool) -> None:
    """Retire SOURCE: it stops serving at once; it stays listed (--include-retired) and its id stays taken."""
    if api_url:
        with service(api_url, key) as client:
            view = client.retire_source(source_id)
    else:
        from freshness.db import session_scope
        from freshness.sources.service import retire_source
        from freshness.sources.views import source_out

        settings = read_settings()
        moment = now()
        with session_scope(sessions_for(settings)) as session:
            policy = policy_in_force(settings, session)
            # The store may be held by `serve`: the retired source's points are marked by reconciliation.
            view = source_out(retire_source(session, OPERATOR, source_id, moment)[0], None, policy, moment)
    if as_json:
        emit_json(view)
        return
    out.print(f"retired {source_id} at {fmt_time(view.retired_at)}: it serves nothing from now on", highlight=False)
