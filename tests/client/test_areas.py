"""A RAG application may spell the client's calls by area, as SPEC §10 lists them: client.sources.register,
client.snapshots.history, client.audit.search, client.policy.get. They are the flat methods themselves."""

from __future__ import annotations

import asyncio

from freshness.client import AsyncFreshnessClient


def test_an_owner_and_an_auditor_call_by_area(as_key, keys):
    owner, auditor, reader = as_key(keys.support), as_key(keys.auditor), as_key(keys.reader)
    registered = owner.sources.register("refund-policy", title="Refunds", owner="support", source_class="policy")
    assert registered.id == "refund-policy"
    first = owner.publish("refund-policy", [{"id": "r.md", "text": "Refunds within 30 days."}]).snapshot
    second = owner.publish("refund-policy", [{"id": "r.md", "text": "Refunds within 14 days."}]).snapshot

    assert [s.id for s in owner.snapshots.history("refund-policy")] == [second.id, first.id]
    assert [s.id for s in owner.snapshots("refund-policy")] == [second.id, first.id]
    assert owner.snapshots.get(first.id).id == first.id
    assert owner.snapshots.activate(first.id).id == first.id
    assert owner.sources.get("refund-policy").active_snapshot_id == first.id
    assert [s.id for s in reader.sources.list(owner="support")] == ["refund-policy"]
    assert owner.sources.update("refund-policy", {"title": "Refund rules"}).title == "Refund rules"

    answer = reader.retrieve("refund days", "general_question")
    assert auditor.audit.get(answer.request_id).request_id == answer.request_id
    assert [r.request_id for r in auditor.audit.search(snapshot_id=first.id)] == [answer.request_id]
    assert auditor.audit.verify().ok
    assert reader.policy.get().version.startswith("sha256:")
    assert owner.sources.retire("refund-policy").retired_at is not None


def test_the_async_client_has_the_same_areas(service_url, keys):
    async def story() -> list[str]:
        async with AsyncFreshnessClient(service_url, keys.admin) as client:
            await client.sources.register("faq", title="FAQ", owner="support", source_class="faq")
            await client.publish("faq", [{"id": "f.md", "text": "Shipping takes 5 days."}])
            return [s.source_id async for s in client.snapshots.history("faq")]

    assert asyncio.run(story()) == ["faq"]
