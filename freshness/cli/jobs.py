"""`freshness jobs`: recent runs of the scheduled jobs, as the `job_runs` table records them."""

from __future__ import annotations

import click
from rich.table import Table

from freshness.cli.common import (
    emit_json,
    fail,
    fmt_time,
    handled,
    json_option,
    out,
    read_settings,
    sessions_for,
)


@click.command()
@click.option("--job", "job_name", default=None,
              help="Only runs of this job (refresh, sweep, purge, reconcile, expire-uploads).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@handled
def jobs(job_name: str | None, limit: int, as_json: bool) -> None:
    """Recent runs of the scheduled jobs, newest first."""
    from freshness.jobs.runner import list_runs
    from freshness.jobs.scheduler import JOBS

    if job_name is not None and job_name not in JOBS:
        fail(f"unknown job {job_name!r}; jobs: {', '.join(JOBS)}")
    runs = list_runs(sessions_for(read_settings()), job=job_name, limit=limit)
    if as_json:
        emit_json([
            {"id": r.id, "job": r.job, "holder": r.holder, "started_at": r.started_at, "finished_at": r.finished_at,
             "outcome": r.outcome, "counts": r.counts, "error": r.error} for r in runs
        ])
        return
    table = Table("id", "job", "started", "took", "outcome", "counts", "error")
    for r in runs:
        took = f"{(r.finished_at - r.started_at).total_seconds():.1f}s" if r.finished_at else ""
        counts = ", ".join(f"{k}={v}" for k, v in (r.counts or {}).items() if v)
        table.add_row(str(r.id), r.job, fmt_time(r.started_at), took, r.outcome, counts, (r.error or "")[:120])
    out.print(table)
