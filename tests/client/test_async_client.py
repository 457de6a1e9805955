"""The async client against a running service: the same calls, awaited, the lists as async iterators."""

from __future__ import annotations

import asyncio
import json

import pytest

from freshness.client import AsyncFreshnessClient, Conflict, InvalidInput, NotFound


def test_an_owner_and_a_rag_app_work_asynchronously(service_url, keys, clock):
    async def scenario() -> None:
        async with AsyncFreshnessClient(service_url, keys.admin) as admin:
            for n in range(4):
                await admin.register_source(f"faq-{n}", title="FAQ", owner="support", source_class="faq")
            with pytest.raises(Conflict):
                await admin.register_source("faq-0", title="FAQ", owner="support", source_class="faq")
            first = await admin.publish("faq-0", [{"id": "ship.md", "text": "Orders ship within two days."}],
                                        version="v1")
            second = await admin.publish("faq-0", [{"id": "ship.md", "text": "Orders ship within one day."}],
                                         version="v2")
            assert [s.id async for s in admin.list_sources(page_size=3)] == [f"faq-{n}" for n in range(4)]
            assert [s.id async for s in admin.snapshots("faq-0", page_size=1)] == [second.snapshot.id,
                                                                                   first.snapshot.id]
            assert (await admin.activate(first.snapshot.id)).state == "active"
            assert (await admin.get_snapshot(first.snapshot.id)).documents[0].id == "ship.md"
            assert (await admin.verify("faq-0")).id == first.snapshot.id
            assert (await admin.update_source("faq-3", {"title": "Shipping"})).title == "Shipping"
            assert (await admin.retire_source("faq-3")).retired_at is not None
            assert [i.id for i in (await admin.freshness(page_size=1)).items] == ["faq-0", "faq-1", "faq-2"]
            assert (await admin.get_policy()).version == (await admin.reload_policy()).version
            with pytest.raises(NotFound):
                await admin.get_snapshot("no-such-snapshot")

        async with AsyncFreshnessClient(service_url, keys.reader) as app:
            answers = await asyncio.gather(*(app.retrieve("when does my order ship", "general_question",
                                                          request_id=f"chat-{n}") for n in range(3)))
            assert sorted(a.request_id for a in answers) == ["chat-0", "chat-1", "chat-2"]
            assert all(a.results[0].snapshot_version == "v1" for a in answers)
            with pytest.raises(InvalidInput) as invalid:
                await app.retrieve("ship", "general_question", top_k=0)
            assert invalid.value.field == "top_k"

        async with AsyncFreshnessClient(service_url, keys.auditor) as auditor:
            assert (await auditor.get_audit_record("chat-1")).task_class == "general_question"
            found = [s.request_id async for s in auditor.search_audit(task_class="general_question", page_size=2)]
            assert sorted(found) == ["chat-0", "chat-1", "chat-2"]
            lines = [line async for line in auditor.export_audit(page_size=1)]
            assert sorted(json.loads(line)["request_id"] for line in lines) == sorted(found)
            assert (await auditor.verify_audit(await auditor.checkpoint())).ok
            assert (await auditor.public_key()).algorithm == "Ed25519"

    asyncio.run(scenario())
