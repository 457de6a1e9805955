"""An upload idle for an hour expires: every request refuses it at once, saying so, and the scheduled
`expire-uploads` job drops it with everything it received. A batch moves the expiry an hour on."""

from __future__ import annotations

from datetime import datetime

import pytest

from freshness.jobs.runner import run_job
from freshness.jobs.scheduler import JOBS
from tests.uploads.conftest import docs, snapshot_count, stored


@pytest.fixture
def sweep(runtime):
    def go():
        return run_job(runtime, JOBS["expire-uploads"], "test-scheduler")

    return go


def test_an_idle_upload_is_refused_then_dropped_by_the_sweep(uploads, refund_policy, runtime, clock, sweep):
    upload_id = uploads.open(refund_policy)["upload_id"]
    uploads.add(upload_id, docs(0, 3))
    clock.advance(minutes=59)
    assert sweep() is None  # nothing expired yet: the run is skipped, not recorded
    assert stored(runtime, upload_id) == (1, 3)

    clock.advance(minutes=2)
    for response in (uploads.api.post(f"/v1/uploads/{upload_id}/documents", json={"documents": docs(3, 1)}),
                     uploads.api.post(f"/v1/uploads/{upload_id}/commit")):
        assert response.status_code == 404, response.text
        problem = response.json()
        assert problem["type"].endswith("/upload-expired")
        assert "expired" in problem["detail"] and "open a new upload" in problem["detail"]
    assert snapshot_count(runtime, refund_policy) == 0

    run = sweep()
    assert run is not None and run.outcome == "ok"
    assert run.counts == {"uploads_expired": 1, "documents_dropped": 3}
    assert stored(runtime) == (0, 0)
    response = uploads.api.post(f"/v1/uploads/{upload_id}/commit")
    assert response.status_code == 404 and response.json()["type"].endswith("/not-found")


def test_each_batch_moves_the_expiry(uploads, refund_policy, runtime, clock, sweep):
    opened = uploads.open(refund_policy)
    kept = opened["upload_id"]
    idle = uploads.open(refund_policy)["upload_id"]
    clock.advance(minutes=50)
    received = uploads.add(kept, docs(0, 2))
    assert datetime.fromisoformat(received["expires_at"]) > datetime.fromisoformat(opened["expires_at"])
    clock.advance(minutes=50)  # 100 minutes after opening, 50 after the last batch
    run = sweep()
    assert run is not None and run.counts["uploads_expired"] == 1
    assert stored(runtime, idle) == (0, 0)
    assert stored(runtime, kept) == (1, 2)
    assert uploads.commit(kept)["stats"]["documents"] == 2


def test_an_expired_upload_may_still_be_abandoned(uploads, refund_policy, runtime, clock):
    upload_id = uploads.open(refund_policy)["upload_id"]
    uploads.add(upload_id, docs(0, 1))
    clock.advance(hours=2)
    uploads.abandon(upload_id)
    assert stored(runtime) == (0, 0)

