"""An operator watches /metrics: every chunk withheld from an answer is counted under the task class, the
source class it was judged under and the reason, including after its owner moved the source to
another class."""

from __future__ import annotations

import re

from tests.conftest import publish, register

PRICES = "The Aero 2 running shoe costs 129 EUR; refunds are paid at that price."


def withheld(admin, source_class: str, reason: str) -> float:
    text = admin.client.get("/metrics").text
    pattern = (r'^freshness_rejected_chunks_total\{(?=[^}]*task_class="refund_decision")'
               rf'(?=[^}}]*source_class="{source_class}")(?=[^}}]*reason="{reason}")[^}}]*\}} (\S+)$')
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_withheld_chunks_are_counted_by_the_class_they_were_judged_under(admin, keys, clock):
    register(admin, "price-notes", "policy")
    publish(admin, "price-notes", [{"id": "aero-2.md", "text": PRICES}])
    clock.advance(days=8)
    reader = admin.as_key(keys.reader)
    ask = {"query": "refund price shoe", "task_class": "refund_decision"}

    first = reader.post("/v1/retrieve", json=ask).json()
    assert [r["reason"] for r in first["rejected"]] == ["stale"]
    assert withheld(admin, "policy", "stale") == 1.0

    moved = admin.patch("/v1/sources/price-notes", json={"source_class": "catalog"})
    assert moved.status_code == 200, moved.text
    second = reader.post("/v1/retrieve", json=ask).json()

    assert [(r["source_id"], r["reason"]) for r in second["rejected"]] == [("price-notes", "stale")]
    assert withheld(admin, "catalog", "stale") == 1.0
    assert withheld(admin, "policy", "stale") == 1.0
    assert withheld(admin, "catalog", "expired") == 0.0
