"""`freshness scheduler` as its own process, and `freshness store optimize`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from freshness.cli import main
from freshness.db import make_engine, make_session_factory, session_scope
from freshness.models import JobRun, Source
from freshness.vectorstore.edge import EdgeStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "support-kb"


def test_store_optimize_runs_offline_and_refuses_a_held_store(cli, settings):
    assert cli("sources", "add", "faq", "--title", "FAQ", "--owner", "support", "--class", "faq").exit_code == 0
    assert cli("publish", "faq", str(EXAMPLES / "shipping-faq")).exit_code == 0
    done = cli("store", "optimize")
    assert done.exit_code == 0, done.output
    assert "points were not indexed" in done.output

    held = EdgeStore(settings.store_path)
    try:
        refused = CliRunner().invoke(main, ["store", "optimize"])
    finally:
        held.close()
    assert refused.exit_code == 1
    assert "in use by another process" in refused.output
    assert len(refused.output.strip().splitlines()) == 1


def test_scheduler_process_refreshes_a_due_source_and_stops_on_sigterm(cli, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("FRESHNESS_FILE_ROOTS", str(tmp_path))
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "shipping.md").write_text("# Shipping\nParcels leave within two working days.")
    added = cli("sources", "add", "shipping-faq", "--title", "Shipping", "--owner", "support", "--class", "faq",
                "--uri", folder.as_uri(), "--refresh-interval", "1h")
    assert added.exit_code == 0, added.output

    env = dict(os.environ, FRESHNESS_DATA_DIR=str(settings.data_dir),
               FRESHNESS_DATABASE_URL=settings.resolved_database_url,
               FRESHNESS_POLICY_FILE=str(settings.policy_file), FRESHNESS_FILE_ROOTS=str(tmp_path))
    process = subprocess.Popen([sys.executable, "-m", "freshness.cli", "scheduler", "--no-migrate"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    try:
        published = None
        deadline = time.monotonic() + 60  # a bound on waiting, not a measurement
        while time.monotonic() < deadline and process.poll() is None:
            with session_scope(sessions) as session:
                published = session.scalar(select(Source.active_snapshot_id).where(Source.id == "shipping-faq"))
                runs = list(session.scalars(select(JobRun).where(JobRun.job == "refresh", JobRun.outcome == "ok")))
            if published and runs:
                break
            time.sleep(0.2)
        assert published, process.stdout.read() if process.poll() is not None else "no refresh within 60 s"
        assert runs[0].counts["published"] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert process.returncode == 0, output
    assert "scheduler" in output and "running" in output
