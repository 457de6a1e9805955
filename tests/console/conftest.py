"""Console fixtures: signing a browser (the test client's cookie jar) in with a key of each role."""

from __future__ import annotations

import re

import pytest
from litestar.testing import TestClient

from tests.conftest import Api, publish, register

TOKEN = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = TOKEN.search(html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def sign_in(client: TestClient, key: str) -> None:
    """Sign in as a person would: open the sign-in page, send its form with the key."""
    client.cookies.clear()
    form = client.get("/console/login")
    assert form.status_code == 200
    answer = client.post("/console/login", data={"key": key, "_csrf_token": csrf_token(form.text)},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text


def form_post(client: TestClient, page: str, action: str, **fields):
    """Open `page`, then send the form that posts to `action` with the page's CSRF token."""
    shown = client.get(page)
    assert shown.status_code == 200, shown.text
    assert f'action="{action}"' in shown.text
    return client.post(action, data={"_csrf_token": csrf_token(shown.text), **fields}, follow_redirects=False)


@pytest.fixture
def refunds(admin: Api, clock) -> dict:
    """A support source with two snapshots (v1 superseded, v2 active) and one retrieval of each."""
    register(admin, "refunds", owner="support")
    first = publish(admin, "refunds", [
        {"id": "policy", "title": "Refund policy", "text": "Refunds within 30 days.\nKeep the receipt."},
        {"id": "old-faq", "text": "Shipping takes five days."},
    ], version="v1")
    early = admin.post("/v1/retrieve", json={"query": "refund days", "task_class": "general_question",
                                            "request_id": "req-early"})
    assert early.status_code == 200, early.text
    clock.advance(hours=1)
    second = publish(admin, "refunds", [
        {"id": "policy", "title": "Refund policy", "text": "Refunds within 14 days.\nKeep the receipt."},
        {"id": "new-terms", "text": "Gift cards are not refundable."},
    ], version="v2")
    late = admin.post("/v1/retrieve", json={"query": "refund days", "task_class": "refund_decision",
                                           "request_id": "req-late"})
    assert late.status_code == 200, late.text
    return {"v1": first["snapshot"]["id"], "v2": second["snapshot"]["id"]}
