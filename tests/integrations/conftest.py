"""A live service holding a refund policy and a catalog, for the retrievers' tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from freshness.app import create_app
from freshness.client import FreshnessClient
from tests.client.live import serving_app

METADATA_KEYS = {"request_id", "status", "rank", "chunk_id", "source_id", "snapshot_id", "snapshot_version",
                 "document_id", "uri", "captured_at", "verified_at", "age_seconds", "freshness", "score"}


@pytest.fixture
def service_url(settings, clock, keys) -> Iterator[str]:
    with serving_app(create_app(settings, clock=clock)) as url, FreshnessClient(url, keys.admin) as admin:
        admin.register_source("refund-policy", title="Refund policy", owner="support", source_class="policy")
        admin.publish("refund-policy", [
            {"id": "refunds.md", "uri": "https://help.example.com/refunds",
             "text": "Refunds are accepted within 30 days of delivery."},
            {"id": "returns.md", "text": "Returns need the original packaging and a refund form."},
        ], version="2026-11")
        admin.register_source("shipping", title="Shipping FAQ", owner="support", source_class="faq")
        admin.publish("shipping", [{"id": "ship.md", "text": "Orders ship within two days."}])
        yield url
