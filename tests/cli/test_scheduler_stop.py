"""`freshness scheduler` stopped by SIGTERM or Ctrl-C waits for the job in progress before it closes the store and
the database that job uses."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import freshness.jobs.scheduler as scheduling
from freshness.runtime import Runtime


@pytest.mark.parametrize("stop", ["sigterm", "ctrl-c"])
def test_a_stopped_scheduler_closes_only_after_its_running_job_has_ended(cli, monkeypatch, stop):
    events: list[str] = []
    started = threading.Event()

    def slow_job(runtime, job, holder):
        events.append(f"{job.name} started")
        started.set()
        time.sleep(1.0)  # long enough for the stop to arrive while it runs
        events.append(f"{job.name} ended")

    closing = Runtime.close

    def close(runtime):
        events.append("runtime closed")
        closing(runtime)

    monkeypatch.setattr(scheduling, "run_job", slow_job)
    monkeypatch.setattr(Runtime, "close", close)
    # Only the refresh job, due at once: the others' first runs are minutes away.
    monkeypatch.setattr(scheduling, "FIRST_RUN_DELAY", {"refresh": 0})
    monkeypatch.setattr(scheduling, "JOBS", {"refresh": scheduling.JOBS["refresh"]})

    def send_stop() -> None:
        if started.wait(timeout=60):  # a bound on waiting, not a measurement
            if stop == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                signal.raise_signal(signal.SIGINT)  # what the terminal sends on Ctrl-C

    before = signal.getsignal(signal.SIGTERM)
    sender = threading.Thread(target=send_stop)
    sender.start()
    try:
        result = cli("scheduler")
    finally:
        sender.join()
    assert result.exit_code == 0, result.output
    assert events == ["refresh started", "refresh ended", "runtime closed"]
    assert signal.getsignal(signal.SIGTERM) == before  # the test process's own handler is back
