"""An upload is bounded as a publish is: FRESHNESS_MAX_DOCUMENTS documents, and all batches together
at most FRESHNESS_MAX_UPLOAD bytes. A batch past a bound is refused whole, naming the setting."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.uploads.conftest import docs, stored

LONG_TOPIC = "returns and exchanges " * 14


@pytest.fixture
def settings(settings):
    return replace(settings, max_documents=5, max_upload=1_000)


def test_the_document_count_of_all_batches_is_bounded(uploads, refund_policy, runtime):
    upload_id = uploads.open(refund_policy)["upload_id"]
    uploads.add(upload_id, docs(0, 3))
    response = uploads.api.post(f"/v1/uploads/{upload_id}/documents", json={"documents": docs(3, 3)})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "documents"
    assert "at most 5" in response.json()["detail"] and "FRESHNESS_MAX_DOCUMENTS" in response.json()["detail"]
    assert stored(runtime, upload_id) == (1, 3)
    assert uploads.add(upload_id, docs(3, 2))["documents_received"] == 5


def test_the_size_of_all_batches_is_bounded(uploads, refund_policy, runtime):
    opened = uploads.open(refund_policy)
    assert opened["max_upload"] == 1_000
    received = uploads.add(opened["upload_id"], docs(0, 2, topic=LONG_TOPIC))
    assert 700 < received["bytes_received"] < 1_000  # room for less than one more such document
    response = uploads.api.post(f"/v1/uploads/{opened['upload_id']}/documents",
                                json={"documents": docs(2, 1, topic=LONG_TOPIC)})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "documents"
    assert "FRESHNESS_MAX_UPLOAD" in response.json()["detail"]
    assert stored(runtime, opened["upload_id"]) == (1, 2)
    assert uploads.commit(opened["upload_id"])["stats"]["documents"] == 2
