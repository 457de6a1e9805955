"""`freshness scheduler` stopped by SIGTERM or Ctrl-C waits for the job in progress before it closes the store and
the database that job uses."""

from __future__ import annotations

import os
import signal
import threading

import pytest

import freshness.jobs.scheduler as scheduling
from freshness.runtime import Runtime

BOUND = 30  # seconds: a bound on waiting, not a measurement


@pytest.mark.parametrize("stop", ["sigterm", "ctrl-c"])
def test_a_stopped_scheduler_closes_only_after_its_running_job_has_ended(cli, monkeypatch, stop):
    events: list[str] = []
    started, shutting_down, may_end = threading.Event(), threading.Event(), threading.Event()

    def job_in_progress(runtime, job, holder):
        events.append(f"{job.name} started")
        started.set()
        may_end.wait(timeout=BOUND)  # still running when the scheduler is told to stop
        events.append(f"{job.name} ended")

    shutdown, closing = scheduling.JobScheduler.shutdown, Runtime.close

    def shut_down(jobs):
        shutting_down.set()
        shutdown(jobs)

    def close(runtime):
        events.append("runtime closed")
        closing(runtime)

    monkeypatch.setattr(scheduling, "run_job", job_in_progress)
    monkeypatch.setattr(scheduling.JobScheduler, "shutdown", shut_down)
    monkeypatch.setattr(Runtime, "close", close)
    # Only the refresh job, due at once: the others' first runs are minutes away.
    monkeypatch.setattr(scheduling, "FIRST_RUN_DELAY", {"refresh": 0})
    monkeypatch.setattr(scheduling, "JOBS", {"refresh": scheduling.JOBS["refresh"]})

    returned = threading.Event()

    def send_stop() -> None:
        while not started.wait(timeout=0.1):
            if returned.is_set():
                return  # the command ended before any job ran: no signal for this process
        if stop == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)  # the kernel may hand it to any thread of the process
        else:
            signal.raise_signal(signal.SIGINT)  # what the terminal sends on Ctrl-C
        shutting_down.wait(timeout=BOUND)  # the job is let end only once the scheduler is stopping
        may_end.set()

    before = signal.getsignal(signal.SIGTERM)
    # A process started in the background may inherit SIGINT ignored; Ctrl-C must raise KeyboardInterrupt here.
    sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
    sender = threading.Thread(target=send_stop)
    sender.start()
    try:
        result = cli("scheduler")
    finally:
        returned.set()
        may_end.set()
        sender.join()
        signal.signal(signal.SIGINT, sigint)
    assert result.exit_code == 0, result.output
    assert events == ["refresh started", "refresh ended", "runtime closed"]
    assert signal.getsignal(signal.SIGTERM) == before  # the test process's own handler is back
