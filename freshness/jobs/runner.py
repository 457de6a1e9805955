"""Running one scheduled job: take its lease, record the run, do the work, record how it ended.

The lease is a row per job in the shared database. A scheduler runs a job only while it holds
an unexpired lease on it, so two scheduler processes on one database never run the same job at
the same time; a scheduler that died loses its lease when it expires.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from freshness.db import read_scope, session_scope
from freshness.models import JobLease, JobRun
from freshness.runtime import Runtime
from freshness.settings import Settings

log = logging.getLogger("freshness.jobs")


class JobContext:
    """What a running job may ask of the runner: keep its lease alive during long work."""

    def __init__(self, runtime: Runtime, job: str, holder: str) -> None:
        self.runtime = runtime
        self.job = job
        self.holder = holder
        self._renewed = runtime.clock.now()

    def keep_alive(self) -> None:
        ttl = self.runtime.settings.job_lease_seconds
        if (self.runtime.clock.now() - self._renewed).total_seconds() >= ttl / 3:
            if not acquire_lease(self.runtime, self.job, self.holder):
                raise LeaseLost(f"the lease on job {self.job!r} was taken over; stopping this run")
            self._renewed = self.runtime.clock.now()


class LeaseLost(RuntimeError):
    pass


@dataclass(frozen=True)
class Job:
    name: str
    work: Callable[[Runtime, JobContext], dict[str, int]]
    interval: Callable[[Settings], int]
    # When given and false, the run is skipped without a record (a refresh check with nothing due).
    has_work: Callable[[Runtime], bool] | None = None


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire_lease(runtime: Runtime, job: str, holder: str) -> bool:
    """Take or extend the lease; false when another holder's lease has not expired."""
    now = runtime.clock.now()
    expires = now + timedelta(seconds=runtime.settings.job_lease_seconds)
    try:
        with session_scope(runtime.sessions) as session:
            lease = session.scalar(select(JobLease).where(JobLease.job == job).with_for_update())
            if lease is None:
                session.add(JobLease(job=job, holder=holder, acquired_at=now, expires_at=expires))
                session.flush()
                return True
            if lease.holder != holder and lease.expires_at > now:
                return False
            if lease.holder != holder:
                lease.acquired_at = now
            lease.holder = holder
            lease.expires_at = expires
            return True
    except IntegrityError:
        # Another scheduler inserted the first lease row at the same moment: it won.
        return False


def release_lease(runtime: Runtime, job: str, holder: str) -> None:
    with session_scope(runtime.sessions) as session:
        lease = session.scalar(select(JobLease).where(JobLease.job == job).with_for_update())
        if lease is not None and lease.holder == holder:
            lease.expires_at = runtime.clock.now()


def run_job(runtime: Runtime, job: Job, holder: str) -> JobRun | None:
    """Run `job` once if this holder gets its lease; the recorded run, or None when skipped."""
    if not acquire_lease(runtime, job.name, holder):
        log.debug("job %s skipped: another scheduler holds its lease", job.name)
        return None
    try:
        if job.has_work is not None and not job.has_work(runtime):
            return None
        with session_scope(runtime.sessions) as session:
            run = JobRun(job=job.name, holder=holder, started_at=runtime.clock.now(), outcome="running", counts={})
            session.add(run)
            session.flush()
            run_id = run.id
        outcome, counts, error = "ok", {}, None
        try:
            counts = job.work(runtime, JobContext(runtime, job.name, holder))
        except Exception as exc:  # a job failure is recorded, never raised into the scheduler
            outcome, error = "failed", f"{type(exc).__name__}: {exc}"[:4000]
            log.exception("job %s failed", job.name)
        with session_scope(runtime.sessions) as session:
            # cast: `run` keeps its type JobRun; the assert still checks the row inserted above is there
            run = cast(JobRun, session.get(JobRun, run_id))
            assert run is not None
            run.finished_at = runtime.clock.now()
            run.outcome = outcome
            run.counts = dict(counts)
            run.error = error
        runtime.metrics.observe_job(job.name, outcome)
        if outcome == "ok" and any(counts.values()):
            log.info("job %s: %s", job.name, ", ".join(f"{k}={v}" for k, v in counts.items()))
        return run
    finally:
        release_lease(runtime, job.name, holder)


def list_runs(sessions: sessionmaker[Session], *, job: str | None = None, limit: int = 20) -> list[JobRun]:
    with read_scope(sessions) as session:
        query = select(JobRun).order_by(JobRun.id.desc()).limit(limit)
        if job:
            query = query.where(JobRun.job == job)
        runs = list(session.scalars(query))
        session.expunge_all()  # keep them loaded: the read scope ends with a rollback
        return runs


def prune_runs(runtime: Runtime) -> int:
    """Forget job runs older than the retention setting."""
    cutoff = runtime.clock.now() - timedelta(seconds=runtime.settings.job_run_retention_seconds)
    with session_scope(runtime.sessions) as session:
        result = cast(CursorResult, session.execute(
            delete(JobRun).where(JobRun.started_at < cutoff, JobRun.outcome != "running")))
        return result.rowcount or 0
