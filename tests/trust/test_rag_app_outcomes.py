"""examples/rag_app.py reports what became of each answer, so trust figures fill in as it runs."""

from __future__ import annotations

import importlib.util
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from freshness.app import create_app
from freshness.client import FreshnessClient
from tests.client.live import serving_app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rag_app.py"


@pytest.fixture
def rag_app():
    spec = importlib.util.spec_from_file_location("rag_app_outcomes", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["rag_app_outcomes"] = module  # its dataclass looks its module up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("rag_app_outcomes", None)


@pytest.fixture
def service_url(settings, clock, keys) -> Iterator[str]:
    with serving_app(create_app(settings, clock=clock)) as url, FreshnessClient(url, keys.admin) as admin:
        admin.register_source("refund-policy", title="Refund policy", owner="support", source_class="policy")
        admin.publish("refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])
        yield url


def test_each_answer_and_each_fallback_records_its_outcome(rag_app, service_url, keys, clock):
    env = {"FRESHNESS_API_URL": service_url, "FRESHNESS_KEY": keys.reader}
    out = io.StringIO()
    assert rag_app.main(["refund within 30 days", "--task-class", "refund_decision", "--outcome", "edited",
                         "--edit-seconds", "45"], env, out) == 0
    assert "recorded: edited" in out.getvalue()
    clock.advance(days=8)
    out = io.StringIO()
    assert rag_app.main(["refund within 30 days", "--task-class", "refund_decision"], env, out) == rag_app.FALLBACK
    assert "recorded: fallback" in out.getvalue()
    with FreshnessClient(service_url, keys.auditor) as auditor:
        [group] = auditor.trust(since="30d").groups
    assert (group.task_class, group.outcomes, group.correction_burden, group.fallback_rate) == (
        "refund_decision", 2, 45.0, 0.5)
