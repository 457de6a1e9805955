"""Two schedulers on one database never run the same job at once; every run is recorded."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

from freshness.jobs.runner import Job, acquire_lease, list_runs, release_lease, run_job
from freshness.jobs.scheduler import JOBS
from freshness.models import JobRun


def _blocking_job(started: threading.Event, release: threading.Event, calls: list[str]) -> Job:
    def work(rt, ctx):
        calls.append(ctx.holder)
        started.set()
        assert release.wait(30), "the test never released the job"
        return {"items": 1}

    return Job("blocking", work, lambda s: 60)


def test_a_job_held_by_one_scheduler_is_skipped_by_another(runtime):
    started, release, calls = threading.Event(), threading.Event(), []
    job = _blocking_job(started, release, calls)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(run_job, runtime, job, "scheduler-a")
        assert started.wait(30)
        # While A is running the job, B gets nothing to do.
        assert run_job(runtime, job, "scheduler-b") is None
        release.set()
        run_a = first.result(30)
    assert run_a.outcome == "ok" and run_a.holder == "scheduler-a"
    assert calls == ["scheduler-a"]
    # Once A has finished, B may run it.
    release.set()
    run_b = run_job(runtime, job, "scheduler-b")
    assert run_b is not None and run_b.holder == "scheduler-b"
    assert [r.holder for r in list_runs(runtime.sessions, job="blocking")] == ["scheduler-b", "scheduler-a"]


def test_two_schedulers_started_together_never_overlap(runtime):
    """Both schedulers try the same job at the same instant, several times: never two at once."""
    lock = threading.Lock()
    active, peak, runs = [0], [0], []
    never = threading.Event()

    def work(rt, ctx):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        never.wait(0.2)  # give the other scheduler every chance to start the job too
        with lock:
            active[0] -= 1
        runs.append(ctx.holder)
        return {}

    job = Job("contended", work, lambda s: 60)
    barrier = threading.Barrier(2)

    def attempt(holder: str):
        barrier.wait(10)
        return run_job(runtime, job, holder)

    for _ in range(5):
        with ThreadPoolExecutor(2) as pool:
            [f.result(60) for f in [pool.submit(attempt, "replica-a"), pool.submit(attempt, "replica-b")]]
    assert peak[0] == 1
    assert 5 <= len(runs) <= 10


def test_an_expired_lease_is_taken_over(runtime, clock):
    assert acquire_lease(runtime, "sweep", "dead-replica")
    assert not acquire_lease(runtime, "sweep", "live-replica")
    clock.advance(seconds=runtime.settings.job_lease_seconds + 1)
    assert acquire_lease(runtime, "sweep", "live-replica")
    assert not acquire_lease(runtime, "sweep", "dead-replica")
    release_lease(runtime, "sweep", "live-replica")
    assert acquire_lease(runtime, "sweep", "dead-replica")


def test_a_failing_job_is_recorded_with_its_error(runtime):
    def work(rt, ctx):
        raise RuntimeError("store unreachable")

    run = run_job(runtime, Job("broken", work, lambda s: 60), "scheduler-a")
    assert run.outcome == "failed" and "store unreachable" in run.error
    assert run.finished_at is not None
    # The lease was released: the next attempt runs (and fails) again rather than waiting for expiry.
    assert run_job(runtime, Job("broken", work, lambda s: 60), "scheduler-b").outcome == "failed"


def test_jobs_command_lists_runs(runtime, run, cli_env, clock):
    from click.testing import CliRunner

    from freshness.cli import main

    run("sweep")
    clock.advance(seconds=1)
    run("purge")
    runner = CliRunner()
    table = runner.invoke(main, ["jobs"], catch_exceptions=False)
    assert table.exit_code == 0, table.output
    assert "sweep" in table.output and "purge" in table.output and "ok" in table.output
    listed = json.loads(runner.invoke(main, ["jobs", "--json", "--job", "sweep"]).output)
    assert [r["job"] for r in listed] == ["sweep"]
    assert listed[0]["outcome"] == "ok" and listed[0]["finished_at"] and "sources" in listed[0]["counts"]
    unknown = runner.invoke(main, ["jobs", "--job", "nightly"])
    assert unknown.exit_code == 1 and "refresh, sweep, purge, reconcile" in unknown.output


def test_old_job_runs_are_pruned_by_the_purge(runtime, run, clock):
    run("sweep")
    clock.advance(days=31)
    result = run("purge")
    assert result.counts["job_runs_pruned"] == 1
    from freshness.db import session_scope

    with session_scope(runtime.sessions) as session:
        assert [r.job for r in session.query(JobRun).all()] == ["purge"]


def test_serve_runs_the_scheduler_unless_told_not_to(settings, clock, keys):
    from dataclasses import replace

    from litestar.testing import TestClient

    from freshness.app import create_app

    app = create_app(replace(settings, scheduler=True), clock=clock)
    with TestClient(app=app):
        scheduler = app.state.scheduler
        assert scheduler is not None and scheduler.scheduler.running
        assert sorted(j.id for j in scheduler.scheduler.get_jobs()) == sorted(JOBS)
    assert not scheduler.scheduler.running

    quiet = create_app(settings, clock=clock)
    with TestClient(app=quiet):
        assert quiet.state.scheduler is None
