"""A refused batch leaves the upload as it was; a refused commit publishes nothing.

Each document is checked when it arrives, by the publish's own rules, with the field named as in
the batch's body; what only the whole upload can show (an id sent in an earlier batch, the total
size, the vector dimension) is checked against what the upload already holds.
"""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import publish
from tests.uploads.conftest import doc, docs, snapshot_count, stored


def refused(response, status: int, field: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem.get("field") == field, problem
    return problem


def add(uploads, upload_id: str, documents: list[dict]):
    return uploads.api.post(f"/v1/uploads/{upload_id}/documents", json={"documents": documents})


def test_a_bad_document_refuses_its_whole_batch_and_names_it(uploads, refund_policy, runtime):
    upload_id = uploads.open(refund_policy)["upload_id"]
    uploads.add(upload_id, docs(0, 3))
    bad = [*docs(3, 3), {"id": "doc-empty", "text": "   "}]
    problem = refused(add(uploads, upload_id, bad), 422, "documents[3].text")
    assert "empty" in problem["detail"]
    refused(add(uploads, upload_id, [doc(10), {"id": "doc-both", "text": "x", "chunks": ["x"]}]), 422,
            "documents[1]")
    refused(add(uploads, upload_id, [doc(11), doc(11)]), 422, "documents[1].id")
    refused(add(uploads, upload_id, []), 422, "documents")
    assert stored(runtime, upload_id) == (1, 3)
    result = uploads.commit(upload_id)
    assert result["stats"]["documents"] == 3


def test_an_id_sent_in_an_earlier_batch_is_refused(uploads, refund_policy, runtime):
    upload_id = uploads.open(refund_policy)["upload_id"]
    uploads.add(upload_id, docs(0, 4))
    problem = refused(add(uploads, upload_id, [doc(7), doc(8), doc(2)]), 422, "documents[2].id")
    assert "doc-002" in problem["detail"] and "earlier batch" in problem["detail"]
    assert uploads.add(upload_id, [doc(7), doc(8)])["documents_received"] == 6


def test_a_strict_body_names_the_unknown_field(uploads, refund_policy):
    upload_id = uploads.open(refund_policy)["upload_id"]
    response = uploads.api.post(f"/v1/uploads/{upload_id}/documents", json={"documents": docs(0, 1), "extra": 1})
    assert response.status_code == 422, response.text
    response = uploads.api.post(f"/v1/sources/{refund_policy}/uploads", json={"version": 5})
    refused(response, 422, "version")


def test_open_refuses_a_capture_time_in_the_future(uploads, refund_policy, clock):
    future = (clock.now() + timedelta(hours=1)).isoformat()
    refused(uploads.api.post(f"/v1/sources/{refund_policy}/uploads", json={"captured_at": future}), 422,
            "captured_at")
    past = (clock.now() - timedelta(days=1)).isoformat()
    refused(uploads.api.post(f"/v1/sources/{refund_policy}/uploads", json={"valid_until": past}), 422, "valid_until")


def test_commit_refused_by_the_publish_publishes_nothing_and_leaves_the_upload_open(admin, uploads, refund_policy,
                                                                                    runtime):
    # The service stores dimension 3 once a publish brought vectors of that size.
    publish(admin, refund_policy, [{"id": "seed", "chunks": ["a seed chunk"], "vectors": [[0.1, 0.2, 0.3]]}])
    upload_id = uploads.open(refund_policy, version="v2")["upload_id"]
    uploads.add(upload_id, [{"id": "a", "chunks": ["alpha chunk"], "vectors": [[1.0, 0.0, 0.0, 0.0]]}])
    uploads.add(upload_id, [{"id": "b", "chunks": ["beta chunk"], "vectors": [[0.0, 1.0, 0.0, 0.0]]}])
    response = uploads.api.post(f"/v1/uploads/{upload_id}/commit")
    refused(response, 422, "documents.vectors")
    assert snapshot_count(runtime, refund_policy) == 1
    assert admin.get(f"/v1/sources/{refund_policy}").json()["active_snapshot"]["version"] is None
    # Still open, as it was: it can be abandoned (or committed once the cause is fixed).
    assert stored(runtime, upload_id) == (1, 2)
    uploads.abandon(upload_id)


def test_vectors_must_keep_the_dimension_of_earlier_batches(uploads, refund_policy):
    upload_id = uploads.open(refund_policy)["upload_id"]
    uploads.add(upload_id, [{"id": "a", "chunks": ["alpha"], "vectors": [[1.0, 0.0]]}])
    problem = refused(add(uploads, upload_id, [doc(1), {"id": "b", "chunks": ["beta"], "vectors": [[1.0, 0.0, 0.0]]}]),
                      422, "documents[1].vectors")
    assert "dimension 2" in problem["detail"]


def test_committing_an_empty_upload_is_refused(uploads, refund_policy, runtime):
    upload_id = uploads.open(refund_policy)["upload_id"]
    refused(uploads.api.post(f"/v1/uploads/{upload_id}/commit"), 422, "documents")
    assert snapshot_count(runtime, refund_policy) == 0
