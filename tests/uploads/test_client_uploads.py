"""The Python client's side of staged uploads: batches sized under the service's limit, in order, and
`publish` that turns into an upload when its body would pass the limit (the async client here; the
sync one is driven by `freshness publish` in tests/cli/test_publish_through_api.py)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import msgspec
import pytest

from freshness.client import AsyncFreshnessClient, Conflict, InvalidInput
from freshness.client.uploads import DocumentTooLarge, batches
from freshness.sources.schemas import DocumentIn
from tests.uploads.conftest import docs, snapshot_count, stored

MAX_BODY = 2_000


def test_batches_keep_the_order_and_stay_under_the_limit():
    documents = docs(0, 40)
    sent = list(batches(documents, MAX_BODY))
    assert len(sent) >= 3
    assert [d for batch in sent for d in batch] == documents
    for batch in sent:
        assert len(msgspec.json.encode({"documents": batch})) <= MAX_BODY


def test_batches_take_the_servers_structs_too():
    documents = [DocumentIn(id=d["id"], title=d["title"], text=d["text"]) for d in docs(0, 10)]
    assert sum(len(batch) for batch in batches(documents, 600)) == 10


def test_a_document_larger_than_the_limit_alone_is_named_as_the_service_would():
    with pytest.raises(InvalidInput) as refused:
        list(batches([*docs(0, 2), {"id": "doc-big", "text": "x" * MAX_BODY}], MAX_BODY))
    assert isinstance(refused.value, DocumentTooLarge)
    assert refused.value.status == 413 and refused.value.field == "documents[2]"
    assert "'doc-big'" in refused.value.detail and "FRESHNESS_MAX_BODY" in refused.value.detail


@pytest.fixture
def settings(settings):
    return replace(settings, max_body=MAX_BODY)


def publish_async(app, key: str, source_id: str, documents: list[dict], **options):
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with AsyncFreshnessClient("http://service", key, transport=transport) as client:
            return await client.publish(source_id, documents, **options)

    return asyncio.run(go())


def test_the_async_client_publishes_a_large_body_as_an_upload(client, keys, refund_policy, runtime):
    moved: list[tuple[int, int]] = []
    result = publish_async(client.app, keys.support, refund_policy, docs(0, 30), version="v1",
                           progress=lambda done, total: moved.append((done, total)))
    assert result.changed is True and result.stats.documents == 30
    assert result.snapshot.version == "v1"
    assert len(moved) > 1 and moved[-1] == (30, 30)
    assert stored(runtime) == (0, 0)


def test_the_async_client_abandons_the_upload_when_the_commit_is_refused(client, keys, admin, refund_policy,
                                                                         runtime, monkeypatch):
    from freshness.client import uploads

    real_commit = uploads.commit_upload

    def retire_then_commit(upload_id: str):
        assert admin.delete(f"/v1/sources/{refund_policy}").status_code == 200
        return real_commit(upload_id)

    monkeypatch.setattr(uploads, "commit_upload", retire_then_commit)
    with pytest.raises(Conflict, match="retired"):
        publish_async(client.app, keys.support, refund_policy, docs(0, 30))
    assert stored(runtime) == (0, 0)
    assert snapshot_count(runtime, refund_policy) == 0
