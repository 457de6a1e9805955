"""`freshness serve` stopped by SIGTERM (`docker stop`, systemd) closes what it opened, as Ctrl-C does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_sigterm_ends_serve_after_it_has_closed_the_store_and_the_database(cli, settings):
    assert cli("sources", "add", "faq", "--title", "FAQ", "--owner", "support", "--class", "faq").exit_code == 0
    port = _free_port()
    env = dict(os.environ, FRESHNESS_DATA_DIR=str(settings.data_dir),
               FRESHNESS_DATABASE_URL=settings.resolved_database_url,
               FRESHNESS_POLICY_FILE=str(settings.policy_file), FRESHNESS_PORT=str(port),
               FRESHNESS_HOST="127.0.0.1")
    process = subprocess.Popen([sys.executable, "-m", "freshness.cli", "serve", "--no-scheduler", "--no-migrate"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60  # a bound on waiting, not a measurement
        ready = False
        while not ready and time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2, trust_env=False).status_code == 200
            except httpx.HTTPError:
                pass
            if not ready:
                time.sleep(0.2)
        assert ready, process.stdout.read() if process.poll() is not None else "not ready within 60 s"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # Killed by the signal (uvicorn raises it again once it has shut down) the code would be -15, and nothing
    # after uvicorn's run would have happened.
    assert process.returncode == 0, output
    assert "Finished server process" in output
    if settings.resolved_database_url.startswith("sqlite"):
        # The last connection closed cleanly: SQLite checkpointed the write-ahead log into the file and removed it.
        database = settings.resolved_database_url.split("///", 1)[1]
        assert not os.path.exists(database + "-wal"), output
