"""Uploads follow the publish's owner rules: the source owner's publisher and admins; another owner's
publisher and a reader get 403, on the upload's every step. A source retired meanwhile takes no commit."""

from __future__ import annotations

import pytest

from tests.conftest import Api, register
from tests.uploads.conftest import Uploads, docs, snapshot_count, stored


@pytest.fixture
def catalog(client, keys) -> Api:
    return Api(client, keys.catalog)


@pytest.fixture
def reader(client, keys) -> Api:
    return Api(client, keys.reader)


def test_a_reader_may_not_open_an_upload(reader, refund_policy, runtime):
    response = reader.post(f"/v1/sources/{refund_policy}/uploads", json={})
    assert response.status_code == 403, response.text
    assert "reader key" in response.json()["detail"]
    assert stored(runtime) == (0, 0)


def test_another_owners_publisher_is_refused_at_every_step(catalog, reader, uploads, refund_policy, runtime):
    response = catalog.post(f"/v1/sources/{refund_policy}/uploads", json={})
    assert response.status_code == 403, response.text
    assert "catalog-team" in response.json()["detail"]

    upload_id = uploads.open(refund_policy)["upload_id"]
    uploads.add(upload_id, docs(0, 2))
    for api in (catalog, reader):
        assert api.post(f"/v1/uploads/{upload_id}/documents", json={"documents": docs(5, 1)}).status_code == 403
        assert api.post(f"/v1/uploads/{upload_id}/commit").status_code == 403
        assert api.delete(f"/v1/uploads/{upload_id}").status_code == 403
    assert stored(runtime, upload_id) == (1, 2)
    assert snapshot_count(runtime, refund_policy) == 0


def test_no_key_is_a_401(client, refund_policy):
    assert client.post(f"/v1/sources/{refund_policy}/uploads", json={}).status_code == 401


def test_an_admin_may_finish_what_a_publisher_started(admin, uploads, refund_policy):
    upload_id = uploads.open(refund_policy)["upload_id"]
    uploads.add(upload_id, docs(0, 2))
    as_admin = Uploads(admin)
    as_admin.add(upload_id, docs(2, 1))
    assert as_admin.commit(upload_id)["stats"]["documents"] == 3


def test_an_unknown_source_or_upload_is_a_404(uploads):
    assert uploads.api.post("/v1/sources/no-such-source/uploads", json={}).status_code == 404
    response = uploads.api.post("/v1/uploads/upl_unknown/documents", json={"documents": docs(0, 1)})
    assert response.status_code == 404
    assert "upl_unknown" in response.json()["detail"]


def test_a_retired_source_takes_no_upload_and_no_commit(admin, uploads, refund_policy, runtime):
    upload_id = uploads.open(refund_policy)["upload_id"]
    uploads.add(upload_id, docs(0, 3))
    assert admin.delete(f"/v1/sources/{refund_policy}").status_code == 200
    response = uploads.api.post(f"/v1/uploads/{upload_id}/commit")
    assert response.status_code == 409, response.text
    assert "retired" in response.json()["detail"]
    assert snapshot_count(runtime, refund_policy) == 0
    assert uploads.api.post(f"/v1/uploads/{upload_id}/documents", json={"documents": docs(3, 1)}).status_code == 409
    assert uploads.api.post(f"/v1/sources/{refund_policy}/uploads", json={}).status_code == 409
    uploads.abandon(upload_id)
    assert stored(runtime) == (0, 0)


def test_uploads_of_two_sources_stay_apart(admin, uploads, refund_policy):
    register(admin, "shipping-faq", source_class="faq")
    first = uploads.open(refund_policy)["upload_id"]
    second = uploads.open("shipping-faq")["upload_id"]
    uploads.add(first, docs(0, 2))
    uploads.add(second, docs(0, 3, topic="shipping"))  # the same document ids, in another upload
    assert uploads.commit(second)["stats"]["documents"] == 3
    assert uploads.commit(first)["stats"]["documents"] == 2
