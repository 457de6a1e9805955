"""A service that keeps only the sha256 of each query cannot replay its records, and says why."""

from __future__ import annotations

import dataclasses

import pytest

from freshness.settings import Settings
from tests.conftest import publish, register
from tests.trust.conftest import ask


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, hash_query_text=True)


def test_a_record_with_only_the_query_hash_is_a_409(admin, reader):
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])
    ask(reader, "q1")
    response = admin.post("/v1/audit/retrievals/q1/replay", json={"policy": "recorded"})
    assert response.status_code == 409
    assert "sha256 of its query" in response.json()["detail"]
