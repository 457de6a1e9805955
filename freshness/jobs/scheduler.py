"""The scheduled jobs and the APScheduler 3 scheduler that runs them.

APScheduler only decides when to try; whether this process may run a job is decided by the
job's lease in the database (see runner.py), so any number of schedulers can be started.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from freshness.jobs.purge import purge_superseded
from freshness.jobs.reconcile import reconcile
from freshness.jobs.runner import Job, JobContext, default_holder, run_job
from freshness.jobs.sweep import sweep
from freshness.jobs.uploads import expire_uploads, has_expired
from freshness.models import JobRun
from freshness.refresh.job import has_due, refresh_due
from freshness.runtime import Runtime

log = logging.getLogger("freshness.scheduler")

JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("refresh", lambda rt, ctx: refresh_due(rt, ctx.keep_alive), lambda s: s.refresh_check_seconds, has_due),
        Job("sweep", lambda rt, ctx: sweep(rt, ctx.keep_alive), lambda s: s.sweep_interval_seconds),
        Job("purge", lambda rt, ctx: purge_superseded(rt, ctx.keep_alive), lambda s: s.purge_interval_seconds),
        Job("reconcile", lambda rt, ctx: reconcile(rt, ctx.keep_alive), lambda s: s.reconcile_interval_seconds),
        # Staged uploads idle past their hour: requests refuse them already, this drops their rows.
        Job("expire-uploads", lambda rt, ctx: expire_uploads(rt, ctx.keep_alive), lambda s: s.sweep_interval_seconds,
            has_expired),
    )
}
# Where the first run of each job falls after start: refresh and sweep at once, the heavier ones later.
FIRST_RUN_DELAY = {"refresh": 1, "sweep": 5, "purge": 60, "reconcile": 120, "expire-uploads": 30}


class JobScheduler:
    """Runs every job on its interval in this process, each only while holding its lease."""

    def __init__(self, runtime: Runtime, *, holder: str | None = None) -> None:
        self.runtime = runtime
        self.holder = holder or default_holder()
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        )
        now = datetime.now(UTC)
        for job in JOBS.values():
            self.scheduler.add_job(
                self.run_once,
                "interval",
                seconds=max(1, job.interval(runtime.settings)),
                args=[job.name],
                id=job.name,
                name=job.name,
                next_run_time=now + timedelta(seconds=FIRST_RUN_DELAY.get(job.name, 1)),
            )

    def run_once(self, name: str) -> JobRun | None:
        """One attempt at job `name`: the recorded run, or None when skipped."""
        try:
            return run_job(self.runtime, JOBS[name], self.holder)
        except Exception:  # the scheduler thread must survive a database that blinked
            log.exception("job %s could not run", name)
            return None

    def start(self) -> None:
        log.info("scheduler %s started: %s", self.holder, ", ".join(JOBS))
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)


__all__ = ["JOBS", "Job", "JobContext", "JobScheduler"]
