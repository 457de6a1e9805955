"""Purge of superseded snapshots and reconciliation of the store with the database."""

from __future__ import annotations

import uuid

from freshness.vectorstore import ChunkPoint
from freshness.vectorstore.embedders import bm25_document
from tests.conftest import Api, publish, register
from tests.points import points_held

V1 = [{"id": "refunds.md", "text": "Refunds are accepted within 30 days of delivery for every item."}]
V2 = [{"id": "refunds.md", "text": "Refunds are accepted within 14 days of delivery; sale items are final."}]


def _ask(admin: Api, reader_key: str, task_class: str = "refund_decision") -> dict:
    body = {"query": "refund days delivery", "task_class": task_class}
    response = admin.as_key(reader_key).post("/v1/retrieve", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _two_versions(admin: Api, clock) -> tuple[str, str]:
    register(admin, "refund-policy", "policy")
    v1 = publish(admin, "refund-policy", V1, version="v1")["snapshot"]["id"]
    clock.advance(hours=1)
    v2 = publish(admin, "refund-policy", V2, version="v2")["snapshot"]["id"]
    return v1, v2


def test_purge_drops_vectors_of_superseded_snapshots_after_the_retention_and_keeps_their_text(
    admin, run, runtime, clock, keys
):
    register(admin, "refund-policy", "policy")
    v1 = publish(admin, "refund-policy", V1, version="v1")["snapshot"]["id"]
    served_v1 = _ask(admin, keys.reader)["request_id"]
    clock.advance(hours=1)
    v2 = publish(admin, "refund-policy", V2, version="v2")["snapshot"]["id"]
    assert points_held(runtime, v1) > 0

    # Within the retention period (7 days by default) nothing is purged, and rollback stays possible.
    clock.advance(days=6)
    early = run("purge")
    assert early.counts["snapshots_purged"] == 0
    assert points_held(runtime, v1) > 0

    clock.advance(days=1, seconds=1)
    done = run("purge")
    assert done.outcome == "ok" and done.counts["snapshots_purged"] == 1
    assert done.counts["points_deleted"] == points_held(runtime, v2)
    assert points_held(runtime, v1) == 0
    snapshot = admin.get(f"/v1/snapshots/{v1}").json()
    assert snapshot["state"] == "purged" and snapshot["purged_at"] is not None
    assert admin.get(f"/v1/snapshots/{v2}").json()["state"] == "active"

    # The audit trail still shows what v1 served, text included.
    record = admin.as_key(keys.auditor).get(f"/v1/audit/retrievals/{served_v1}").json()
    [chunk] = record["results"]
    assert chunk["snapshot_id"] == v1 and "30 days" in chunk["text"]
    assert chunk["snapshot"]["state_now"] == "purged"

    # A purged snapshot has no vectors to serve: it cannot be activated again.
    refused = admin.post(f"/v1/snapshots/{v1}/activate", json={})
    assert refused.status_code in (409, 422), refused.text
    assert "purged" in refused.json()["detail"]
    # v2, now a week old, is what a flagging task class still gets.
    assert "14 days" in _ask(admin, keys.reader, "general_question")["results"][0]["text"]

    # Nothing is left to purge.
    assert run("purge").counts["snapshots_purged"] == 0


def test_a_snapshot_rolled_back_to_is_not_purged(admin, run, runtime, clock):
    v1, v2 = _two_versions(admin, clock)
    assert admin.post(f"/v1/snapshots/{v1}/activate", json={}).status_code == 200
    clock.advance(days=8)
    result = run("purge")
    # The rollback superseded v2 eight days ago: it goes; v1 is active and stays.
    assert result.counts["snapshots_purged"] == 1
    assert admin.get(f"/v1/snapshots/{v1}").json()["state"] == "active"
    assert admin.get(f"/v1/snapshots/{v2}").json()["state"] == "purged"
    assert points_held(runtime, v1) > 0


def test_reconcile_restores_missing_points_and_deletes_foreign_ones(admin, run, runtime, clock, keys):
    register(admin, "refund-policy", "policy", tags=["eu"])
    long_text = " ".join(f"Refund rule {i}: items of kind {i} are refunded within {i + 10} days." for i in range(30))
    active = publish(admin, "refund-policy", [{"id": "refunds.md", "text": long_text}])["snapshot"]["id"]
    total = points_held(runtime, active)
    assert total > 3

    # Behind the service's back: delete some points, add a point of no snapshot, alter a payload.
    ids = [pid for pid, _ in runtime.store.scroll_ids(None, 1000)[0]]
    runtime.store.delete_ids(ids[:3])
    stranger = str(uuid.uuid4())
    runtime.store.upsert([ChunkPoint(stranger, bm25_document("refund rule stranger"), None,
                                     {"snapshot_id": "snap_nobody", "source_id": "refund-policy"})])
    sparse, dense = runtime.store.vectors([ids[5]])[ids[5]]
    runtime.store.upsert([ChunkPoint(ids[5], sparse, dense, {"snapshot_id": active, "snapshots": [active],
                                                             "source_id": "refund-policy", "source_class": "policy",
                                                             "tags": ["us"], "document_id": "refunds.md"})])
    assert points_held(runtime, active) == total - 3

    result = run("reconcile")
    assert result.outcome == "ok"
    assert result.counts["points_missing"] == 3 and result.counts["points_reindexed"] == 3
    assert result.counts["orphans_deleted"] == 1
    assert result.counts["payloads_changed"] == 1
    assert points_held(runtime, active) == total
    assert runtime.store.vectors([stranger]) == {}
    _, payloads = zip(*runtime.store.scroll_ids(None, 1000)[0], strict=True)
    assert all(p["tags"] == ["eu"] for p in payloads)

    # The repaired store answers as before: a tag filter finds the rewritten point again.
    response = admin.as_key(keys.reader).post("/v1/retrieve", json={
        "query": "refund rule 5", "task_class": "refund_decision", "top_k": 100, "filters": {"tags": ["eu"]}})
    assert {r["chunk_id"] for r in response.json()["results"]} >= {ids[0], ids[1], ids[2], ids[5]}

    # A second pass finds nothing to do.
    again = run("reconcile")
    assert again.counts["points_missing"] == 0 and again.counts["orphans_deleted"] == 0
    assert again.counts["payloads_changed"] == 0


def test_reconcile_removes_points_left_by_a_purge_that_could_not_delete_them(admin, run, runtime, clock):
    v1, _ = _two_versions(admin, clock)
    kept = points_held(runtime, v1)
    # Mark v1 purged in the database without touching the store, as a crash between the two would.
    from sqlalchemy import update

    from freshness.db import session_scope
    from freshness.models import Snapshot

    with session_scope(runtime.sessions) as session:
        session.execute(update(Snapshot).where(Snapshot.id == v1).values(state="purged", purged_at=clock.now()))
    assert points_held(runtime, v1) == kept > 0
    assert run("reconcile").counts["orphans_deleted"] == kept
    assert points_held(runtime, v1) == 0
