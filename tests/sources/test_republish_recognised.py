"""A re-publish of exactly the documents last accepted is recognised before any chunk is cut, checked or hashed.

A publisher that sends its whole source on a schedule mostly sends what it sent last time. The service keeps
a fingerprint of the documents it last accepted for the active snapshot (bytes as sent, vectors included,
and the settings that cut and check them); the same fingerprint confirms the content at once. Anything else
is prepared in full, as before, and the request's own rules (its times, how many documents) always hold.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from freshness.sources import publish as publishing
from freshness.sources import worker
from tests.conftest import publish, register

DOCS = [{"id": "refunds.md", "chunks": ["Refunds take 14 days.", "Store credit is instant."],
         "vectors": [[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]}]


@pytest.fixture
def refunds(support):
    register(support, "refund-policy")
    return support


@pytest.fixture
def prepared(monkeypatch) -> list[int]:
    """Counts the bodies `prepare` cuts and checks (these small ones in the service's process)."""
    calls: list[int] = []
    real = worker.prepare

    def counting(body, settings, now, *rest):
        calls.append(len(body.documents))
        return real(body, settings, now, *rest)

    monkeypatch.setattr(worker, "prepare", counting)
    return calls


def test_the_same_documents_again_are_confirmed_without_being_prepared(refunds, prepared, clock):
    first = publish(refunds, "refund-policy", DOCS)
    clock.advance(hours=2)

    again = publish(refunds, "refund-policy", DOCS, expect=200)

    assert prepared == [1]
    assert again["changed"] is False and again["snapshot"]["id"] == first["snapshot"]["id"]
    assert again["snapshot"]["verified_at"].startswith(clock.now().isoformat()[:19])
    assert again["stats"]["documents"] == 1 and again["stats"]["chunks"] == 2


def test_other_vectors_for_the_same_text_are_prepared_then_recognised_next_time(refunds, prepared):
    publish(refunds, "refund-policy", DOCS)
    other = [{**DOCS[0], "vectors": [[0.3, 0.2, 0.1], [0.1, 0.2, 0.3]]}]

    # The text is unchanged, so the content is confirmed, but only after a full prepare of the new bytes...
    assert publish(refunds, "refund-policy", other, expect=200)["changed"] is False
    assert prepared == [1, 1]
    # ...whose fingerprint is kept: the same bytes again skip it.
    assert publish(refunds, "refund-policy", other, expect=200)["changed"] is False
    assert prepared == [1, 1]


def test_a_changed_document_is_prepared_and_published_as_before(refunds, prepared):
    publish(refunds, "refund-policy", DOCS)
    changed = [{**DOCS[0], "chunks": ["Refunds take 7 days.", "Store credit is instant."]}]

    out = publish(refunds, "refund-policy", changed)

    assert out["changed"] is True and out["stats"]["chunks_reused"] == 1
    assert prepared == [1, 1]


def test_the_request_rules_still_hold_for_recognised_documents(refunds, prepared, clock):
    publish(refunds, "refund-policy", DOCS)
    future = (clock.now() + timedelta(hours=1)).isoformat()

    refused = refunds.post("/v1/sources/refund-policy/snapshots", json={"documents": DOCS, "captured_at": future})

    assert refused.status_code == 422 and "captured_at" in refused.text
    # A new valid_until is new content, never a confirmation.
    until = (clock.now() + timedelta(days=3)).isoformat()
    assert publish(refunds, "refund-policy", DOCS, valid_until=until)["changed"] is True


def test_a_publish_that_got_in_after_the_look_makes_the_body_prepared_after_all(refunds, prepared, monkeypatch):
    publish(refunds, "refund-policy", DOCS)
    changed = [{**DOCS[0], "chunks": ["Refunds take 7 days.", "Store credit is instant."]}]
    # The look said "sent before", but the transaction finds another active snapshot (as after a racing publish).
    monkeypatch.setattr(publishing, "_look", lambda *args: None)

    out = publish(refunds, "refund-policy", changed)

    assert out["changed"] is True
    assert prepared == [1, 1]
