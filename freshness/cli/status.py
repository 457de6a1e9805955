"""`freshness status`: the freshness of every live source, and an exit code a monitor can alert on."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from freshness.cli.common import (
    emit_json,
    err,
    fmt_age,
    handled,
    json_option,
    now,
    out,
    read_settings,
    sessions_for,
)
from freshness.cli.policy import policy_in_force
from freshness.cli.remote import api_options, service


@click.command()
@json_option
@click.option("--class", "source_class", default=None, help="Only sources of this class.")
@click.option("--owner", default=None, help="Only sources of this owner.")
@api_options
@handled
def status(as_json: bool, source_class: str | None, owner: str | None, api_url: str | None,
           key: str | None) -> None:
    """Freshness of every live source. Exit 1 when a source a critical task class may use is stale or expired."""
    if api_url:
        with service(api_url, key) as client:
            report = client.freshness(source_class=source_class, owner=owner)
        moment, version, rows = report.generated_at, report.policy_version, report.items
        blocked, counts = report.critical_blocked, report.counts
    else:
        from freshness.db import read_scope
        from freshness.sources.report import count_by_status, freshness_report
        from freshness.sources.service import require_known_class

        settings = read_settings()
        moment = now()
        with read_scope(sessions_for(settings)) as session:
            policy = policy_in_force(settings, session)
            if source_class is not None:
                require_known_class(policy, source_class, field="--class")
            rows = freshness_report(session, policy, moment, source_class=source_class, owner=owner)
        version = policy.version
        blocked = [row.source_id for row in rows if row.blocks_critical]
        counts = count_by_status(rows)
    if as_json:
        emit_json({"generated_at": moment, "policy_version": version, "counts": counts,
                   "critical_blocked": blocked, "items": rows})
    else:
        table = Table("source", "class", "status", "age", "max age", "strictest", "stale for", "snapshot",
                      "last refresh")
        for row in rows:
            refresh = row.last_refresh
            last = ""
            if refresh and refresh.outcome:
                last = refresh.outcome + (f" ({refresh.consecutive_failures}x: {refresh.error})"
                                          if refresh.outcome == "failed" else "")
            table.add_row(row.source_id, row.source_class, row.status, fmt_age(row.age_seconds),
                          fmt_age(row.max_age_seconds), fmt_age(row.strictest_max_age_seconds),
                          ", ".join(row.stale_for), row.active_snapshot_id or "", last)
        out.print(table)
        out.print(", ".join(f"{n} {name}" for name, n in counts.items() if n) or "no sources", highlight=False)
        if blocked:
            err.print(f"stale or expired for a critical task class: {', '.join(blocked)}", highlight=False)
    if blocked:
        sys.exit(1)
