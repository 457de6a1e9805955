"""A publish killed halfway leaves the previous snapshot serving; the next start cleans up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
from sqlalchemy import select

from freshness.auth.keys import Principal, Role
from freshness.db import make_engine, session_scope
from freshness.models import Chunk, Snapshot
from freshness.runtime import open_runtime
from freshness.sources.publish import publish, recover_unfinished
from freshness.sources.schemas import PublishRequest, SourceCreate
from freshness.sources.service import register_source
from tests.points import points_held

OPERATOR = Principal("test", "test", Role.ADMIN, None)


def _words(n: int) -> str:
    vocabulary = "refund return parcel carrier invoice warranty exchange credit delivery order".split()
    return " ".join(vocabulary[(i * 7) % len(vocabulary)] + str(i % 97) for i in range(n))


def test_killed_publish_is_failed_at_next_start_and_previous_keeps_serving(settings, clock, tmp_path: Path):
    runtime = open_runtime(settings, clock=clock)
    with session_scope(runtime.sessions) as session:
        register_source(session, OPERATOR, SourceCreate(id="refund-policy", title="Refunds", owner="support",
                                                        source_class="policy"), runtime.policy.current, clock.now())
    body = msgspec.convert({"documents": [{"id": "refunds.md", "text": "Refunds within 30 days."}]}, PublishRequest)
    first = publish(runtime, OPERATOR, "refund-policy", body)
    first_points = points_held(runtime, first.snapshot.id)
    runtime.close()
    assert first_points == 1

    corpus = tmp_path / "big"
    corpus.mkdir()
    # About 6,000 chunks: the snapshot stays ingesting for 2.4-2.6 s on a fast machine (15 files: 1.2 s).
    for i in range(30):
        (corpus / f"doc{i:02d}.txt").write_text(_words(12_000))
    env = dict(
        os.environ,
        FRESHNESS_DATA_DIR=str(settings.data_dir),
        FRESHNESS_DATABASE_URL=settings.resolved_database_url,
        FRESHNESS_POLICY_FILE=str(settings.policy_file),
        FRESHNESS_CHUNK_SIZE="60",
        FRESHNESS_CHUNK_OVERLAP="0",
        FRESHNESS_WRITE_BATCH="32",
    )
    env.pop("FRESHNESS_API_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "freshness.cli", "publish", "refund-policy", str(corpus), "--version", "v2"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    runtime_db = make_engine(settings.resolved_database_url)
    try:
        deadline = time.monotonic() + 120
        ingesting = None
        while time.monotonic() < deadline and proc.poll() is None:
            with runtime_db.connect() as conn:
                ingesting = conn.execute(
                    select(Snapshot.id).where(Snapshot.state == "ingesting")
                ).scalar_one_or_none()
            if ingesting:
                break
            time.sleep(0.05)
        assert ingesting, f"the publish never started: {proc.communicate()[1].decode()[-2000:]}"
        time.sleep(0.3)  # let it write some batches of points
        assert proc.poll() is None, "the publish finished before it could be killed; make the corpus bigger"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        runtime_db.dispose()

    # Restart: what `serve` (or the next `publish`) does first.
    runtime = open_runtime(settings, clock=clock)
    try:
        with session_scope(runtime.sessions) as session:
            before = session.get(Snapshot, ingesting)
            assert before.state == "ingesting"
        assert recover_unfinished(runtime, all_ingesting=True) == [ingesting]
        with session_scope(runtime.sessions) as session:
            failed = session.get(Snapshot, ingesting)
            active = session.get(Snapshot, first.snapshot.id)
            assert failed.state == "failed"
            assert "interrupted" in failed.failure_reason
            assert active.state == "active"
            assert session.scalar(select(Chunk.text).where(Chunk.snapshot_id == active.id)) == (
                "Refunds within 30 days."
            )
        assert points_held(runtime, ingesting) == 0
        assert points_held(runtime, first.snapshot.id) == first_points
    finally:
        runtime.close()


def test_failed_publish_removes_its_points_and_keeps_the_previous(settings, clock):
    runtime = open_runtime(settings, clock=clock)
    try:
        with session_scope(runtime.sessions) as session:
            register_source(session, OPERATOR, SourceCreate(id="faq", title="FAQ", owner="support",
                                                            source_class="faq"), runtime.policy.current, clock.now())
        body = msgspec.convert({"documents": [{"id": "a", "text": "Ships in 3 days."}]}, PublishRequest)
        first = publish(runtime, OPERATOR, "faq", body)

        calls = {"n": 0}
        real_upsert = runtime.store.upsert

        def flaky_upsert(points):
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("disk full")
            real_upsert(points)

        runtime.store.upsert = flaky_upsert  # type: ignore[method-assign]
        documents = [{"id": f"d{i}", "text": _words(400)} for i in range(10)]
        try:
            publish(runtime, OPERATOR, "faq", msgspec.convert({"documents": documents}, PublishRequest))
        except RuntimeError:
            pass
        else:
            raise AssertionError("the publish should have failed")
        runtime.store.upsert = real_upsert  # type: ignore[method-assign]
        with session_scope(runtime.sessions) as session:
            states = dict(session.execute(select(Snapshot.id, Snapshot.state)).all())
        failed = [sid for sid, state in states.items() if state == "failed"]
        assert len(failed) == 1
        assert states[first.snapshot.id] == "active"
        assert points_held(runtime, failed[0]) == 0
        assert points_held(runtime, first.snapshot.id) == 1
    finally:
        runtime.close()
