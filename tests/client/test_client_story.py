"""A content owner, a RAG application and an auditor, each with the Python client against a running service."""

from __future__ import annotations

import csv
import io
import json

import pytest

from freshness.client import InsufficientContext
from freshness.retrieval.schemas import RetrieveFilters, RetrieveResponse
from freshness.sources.schemas import DocumentIn, FreshnessReport, PublishResult, SourceOut, SourceUpdate

REFUND_V1 = "Refunds are accepted within 30 days of delivery. Sale items can be refunded too."
REFUND_V2 = "Refunds are accepted within 14 days of delivery. Sale items are final sale."


def test_an_owner_publishes_rolls_back_and_verifies(as_key, keys, clock):
    owner = as_key(keys.support)
    source = owner.register_source("refund-policy", title="Refund policy", owner="support", source_class="policy",
                                   tags=["refunds"])
    assert isinstance(source, SourceOut) and source.active_snapshot is None

    first = owner.publish("refund-policy", [{"id": "refunds.md", "text": REFUND_V1}], version="v1")
    assert isinstance(first, PublishResult) and first.changed and first.stats.documents == 1
    second = owner.publish("refund-policy", [DocumentIn(id="refunds.md", text=REFUND_V2)], version="v2",
                           captured_at=clock.now())
    assert second.changed and second.snapshot.id != first.snapshot.id
    same = owner.publish("refund-policy", [DocumentIn(id="refunds.md", text=REFUND_V2)], version="v2")
    assert not same.changed and same.snapshot.id == second.snapshot.id

    history = list(owner.snapshots("refund-policy", page_size=1))  # one page per snapshot
    assert [s.id for s in history] == [second.snapshot.id, first.snapshot.id]
    assert [s.state for s in history] == ["active", "superseded"]
    detail = owner.get_snapshot(first.snapshot.id)
    assert [d.id for d in detail.documents] == ["refunds.md"] and detail.version == "v1"

    rolled_back = owner.activate(first.snapshot.id, source_id="refund-policy")
    assert rolled_back.id == first.snapshot.id and rolled_back.state == "active"
    assert owner.get_source("refund-policy").active_snapshot_id == first.snapshot.id

    clock.advance(hours=2)
    verified = owner.verify("refund-policy")
    assert verified.verified_at == clock.now()

    renamed = owner.update_source("refund-policy", SourceUpdate(title="Refunds and returns"))
    assert renamed.title == "Refunds and returns" and renamed.tags == ["refunds"]
    assert owner.update_source("refund-policy", {"tags": []}).tags == []
    moved = owner.update_source("refund-policy", uri="https://help.example.com/refunds", metadata={"team": "support"})
    assert moved.uri == "https://help.example.com/refunds" and moved.metadata == {"team": "support"}
    assert moved.title == "Refunds and returns"

    retired = owner.retire_source("refund-policy")
    assert retired.retired_at is not None
    assert [s.id for s in owner.list_sources()] == []
    assert [s.id for s in owner.list_sources(include_retired=True)] == ["refund-policy"]


def test_listing_walks_every_page(as_key, keys):
    admin = as_key(keys.admin)
    names = [f"faq-{n}" for n in range(7)]
    for name in names:
        admin.register_source(name, title=name, owner="support", source_class="faq")
    admin.register_source("prices", title="Prices", owner="catalog-team", source_class="catalog")

    assert [s.id for s in admin.list_sources(page_size=3)] == [*names, "prices"]
    assert [s.id for s in admin.list_sources(owner="catalog-team", page_size=1)] == ["prices"]
    assert [s.id for s in admin.list_sources(source_class="faq", page_size=2)] == names


def test_a_rag_app_retrieves_with_its_request_id_and_the_auditor_finds_it(as_key, keys, clock):
    admin = as_key(keys.admin)
    admin.register_source("refund-policy", title="Refunds", owner="support", source_class="policy")
    published = admin.publish("refund-policy", [{"id": "refunds.md", "text": REFUND_V1}], version="v1")

    app = as_key(keys.reader)
    answer = app.retrieve("can I get a refund", "refund_decision", top_k=3,
                          filters=RetrieveFilters(source_ids=["refund-policy"]), request_id="ticket-42:1")
    assert isinstance(answer, RetrieveResponse)
    assert answer.request_id == "ticket-42:1" and answer.status == "ok"
    [result] = answer.results
    assert result.snapshot_id == published.snapshot.id and result.snapshot_version == "v1"
    assert InsufficientContext.check(answer) is answer

    clock.advance(days=8)  # past the policy class's 7d
    stale = app.retrieve("can I get a refund", "refund_decision", filters={"source_ids": ["refund-policy"]})
    assert stale.status == "insufficient_context" and stale.results == []
    with pytest.raises(InsufficientContext) as raised:
        InsufficientContext.check(stale)
    assert raised.value.request_id == stale.request_id
    assert [r.reason for r in raised.value.rejected] == ["stale"]

    auditor = as_key(keys.auditor)
    record = auditor.get_audit_record("ticket-42:1")
    assert record.request_id == "ticket-42:1" and record.query == "can I get a refund"
    assert record.results[0].snapshot.state_now == "active" and record.principal.role == "reader"
    assert [s.request_id for s in auditor.search_audit(page_size=1)] == [stale.request_id, "ticket-42:1"]
    assert [s.request_id for s in auditor.search_audit(status="ok")] == ["ticket-42:1"]

    report = auditor.verify_audit()
    assert report.ok and report.records_checked == 2 and report.first_bad is None
    checkpoint = auditor.checkpoint()
    assert checkpoint.seq == 2
    held = auditor.verify_audit(checkpoint)
    assert held.ok and held.checkpoint is not None and held.checkpoint.ok
    assert "BEGIN PUBLIC KEY" in auditor.public_key().public_key


def test_the_audit_log_exports_as_json_lines_and_csv_across_pages(as_key, keys):
    admin = as_key(keys.admin)
    admin.register_source("faq", title="FAQ", owner="support", source_class="faq")
    admin.publish("faq", [{"id": "shipping.md", "text": "Orders ship within two days."}])
    reader = as_key(keys.reader)
    asked = [reader.retrieve("when does my order ship", "general_question", request_id=f"r-{n}").request_id
             for n in range(5)]

    auditor = as_key(keys.auditor)
    lines = list(auditor.export_audit(page_size=2))
    assert [json.loads(line)["request_id"] for line in lines] == asked[::-1]
    assert all(json.loads(line)["record_hash"].startswith("sha256:") for line in lines)

    rows = list(csv.DictReader(io.StringIO("\n".join(auditor.export_audit(format="csv", page_size=2)))))
    assert [row["request_id"] for row in rows] == asked[::-1]  # one header, not one per page
    assert rows[0]["status"] == "ok" and rows[0]["results"] == "1"


def test_the_freshness_report_and_the_policy(as_key, keys, clock):
    admin = as_key(keys.admin)
    for n in range(3):
        admin.register_source(f"faq-{n}", title="FAQ", owner="support", source_class="faq")
    admin.publish("faq-0", [{"id": "a.md", "text": "Orders ship within two days."}])

    report = admin.freshness()
    assert isinstance(report, FreshnessReport)
    assert [item.id for item in report.items] == ["faq-0", "faq-1", "faq-2"] and report.next_cursor is None
    assert {item.id: item.status for item in report.items}["faq-1"] == "never_published"
    assert [item.id for item in admin.freshness(status="fresh").items] == ["faq-0"]
    paged = admin.freshness(page_size=1)
    assert [item.id for item in paged.items] == ["faq-0", "faq-1", "faq-2"] and paged.counts == report.counts

    policy = admin.get_policy()
    assert policy.version.startswith("sha256:") and policy.task_classes["refund_decision"].criticality == "critical"
    reloaded = admin.reload_policy()
    assert not reloaded.changed and reloaded.previous_version == policy.version
