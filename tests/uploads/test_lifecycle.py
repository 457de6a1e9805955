"""A snapshot sent in batches is published as if it had come in one body.

The support team opens an upload on its refund policy, sends the documents in three batches and
commits: the snapshot, its content hash, its fields and the stats are those of one publish of the
same documents, and the upload is gone. Committing the same content again is an unchanged publish.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import publish, register
from tests.uploads.conftest import docs, snapshot_count, stored


def test_batches_commit_as_one_snapshot_like_a_publish(admin, uploads, refund_policy, runtime, clock):
    captured = (clock.now() - timedelta(hours=2)).replace(microsecond=0)
    opened = uploads.open(refund_policy, version="2026-11-28", captured_at=captured.isoformat())
    assert opened["upload_id"].startswith("upl_")
    assert datetime.fromisoformat(opened["expires_at"]) == clock.now() + timedelta(hours=1)
    assert opened["documents_received"] == 0
    assert opened["max_body"] == runtime.settings.max_body

    assert uploads.add(opened["upload_id"], docs(0, 4))["documents_received"] == 4
    assert uploads.add(opened["upload_id"], docs(4, 4))["documents_received"] == 8
    last = uploads.add(opened["upload_id"], docs(8, 2))
    assert last["documents_received"] == 10 and last["bytes_received"] > 0
    assert stored(runtime, opened["upload_id"]) == (1, 10)

    result = uploads.commit(opened["upload_id"])
    assert result["changed"] is True
    snapshot = result["snapshot"]
    assert (snapshot["state"], snapshot["version"], snapshot["document_count"]) == ("active", "2026-11-28", 10)
    assert datetime.fromisoformat(snapshot["captured_at"]) == captured
    assert result["stats"]["documents"] == 10
    assert result["stats"]["chunks"] == snapshot["chunk_count"] >= 10
    assert result["stats"]["chunks_embedded"] + result["stats"]["chunks_reused"] == result["stats"]["chunks"]

    # The same documents in one publish body make the same content hash.
    register(admin, "refund-policy-twin")
    twin = publish(admin, "refund-policy-twin", docs(0, 10), version="2026-11-28")
    assert twin["snapshot"]["content_hash"] == snapshot["content_hash"]
    assert twin["stats"]["chunks"] == result["stats"]["chunks"]

    source = admin.get(f"/v1/sources/{refund_policy}").json()
    assert source["active_snapshot_id"] == snapshot["id"]
    detail = admin.get(f"/v1/snapshots/{snapshot['id']}").json()
    assert [d["id"] for d in detail["documents"]] == [f"doc-{n:03d}" for n in range(10)]

    # Committed: the upload and its staged documents are gone.
    assert stored(runtime, opened["upload_id"]) == (0, 0)
    gone = uploads.api.post(f"/v1/uploads/{opened['upload_id']}/documents", json={"documents": docs(20, 1)})
    assert gone.status_code == 404
    assert uploads.api.post(f"/v1/uploads/{opened['upload_id']}/commit").status_code == 404


def test_committing_the_active_content_again_is_an_unchanged_publish(admin, uploads, refund_policy, runtime, clock):
    first = publish(admin, refund_policy, docs(0, 5))
    clock.advance(hours=1)
    opened = uploads.open(refund_policy)
    uploads.add(opened["upload_id"], docs(0, 3))
    uploads.add(opened["upload_id"], docs(3, 2))
    result = uploads.commit(opened["upload_id"], expect=200)
    assert result["changed"] is False
    assert result["snapshot"]["id"] == first["snapshot"]["id"]
    assert result["stats"]["chunks_embedded"] == 0
    assert datetime.fromisoformat(result["snapshot"]["verified_at"]) == clock.now()
    assert snapshot_count(runtime, refund_policy) == 1
    assert stored(runtime) == (0, 0)


def test_a_new_upload_reuses_the_vectors_of_unchanged_chunks(admin, uploads, refund_policy):
    publish(admin, refund_policy, docs(0, 6))
    opened = uploads.open(refund_policy, version="v2")
    uploads.add(opened["upload_id"], docs(0, 5))  # doc-005 is left out: it is gone from the source
    uploads.add(opened["upload_id"], docs(6, 1, topic="returns"))
    result = uploads.commit(opened["upload_id"])
    assert result["stats"]["documents"] == 6
    assert result["stats"]["chunks_reused"] >= 5
    assert result["stats"]["chunks_embedded"] >= 1
    ids = [d["id"] for d in admin.get(f"/v1/snapshots/{result['snapshot']['id']}").json()["documents"]]
    assert "doc-005" not in ids and "doc-006" in ids


def test_an_upload_opened_without_a_body_takes_the_publish_defaults(uploads, refund_policy, clock):
    response = uploads.api.post(f"/v1/sources/{refund_policy}/uploads")
    assert response.status_code == 201, response.text
    upload_id = response.json()["upload_id"]
    uploads.add(upload_id, docs(0, 2))
    clock.advance(minutes=5)
    snapshot = uploads.commit(upload_id)["snapshot"]
    assert snapshot["version"] is None
    assert datetime.fromisoformat(snapshot["captured_at"]) == clock.now()
    assert clock.now().tzinfo == UTC


def test_abandoning_drops_everything_and_publishes_nothing(uploads, refund_policy, runtime):
    opened = uploads.open(refund_policy)
    uploads.add(opened["upload_id"], docs(0, 3))
    answer = uploads.abandon(opened["upload_id"])
    assert answer == {"upload_id": opened["upload_id"], "source_id": refund_policy, "documents_dropped": 3}
    assert stored(runtime) == (0, 0)
    assert snapshot_count(runtime, refund_policy) == 0
    assert uploads.api.post(f"/v1/uploads/{opened['upload_id']}/commit").status_code == 404
    assert uploads.api.delete(f"/v1/uploads/{opened['upload_id']}").status_code == 404
