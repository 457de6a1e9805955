"""Every problem the service answers with arrives as its own exception, carrying the problem document."""

from __future__ import annotations

import dataclasses
import socket
import threading
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from freshness.app import create_app
from freshness.client import (
    Conflict,
    Forbidden,
    FreshnessAPIError,
    FreshnessClient,
    InvalidInput,
    NotFound,
    ServiceUnreachable,
    Unauthorized,
    Unavailable,
)
from tests.client.live import serving_app
from tests.loopback import serving


def test_each_status_raises_its_class_with_the_problem_document(as_key, keys):
    reader, admin = as_key(keys.reader), as_key(keys.admin)

    with pytest.raises(Unauthorized) as unauthorized:
        as_key("fk_" + "x" * 40).get_policy()
    assert unauthorized.value.status == 401 and unauthorized.value.type.endswith("/unauthorized")

    with pytest.raises(Forbidden) as forbidden:
        reader.register_source("faq", title="FAQ", owner="support", source_class="faq")
    assert forbidden.value.status == 403

    with pytest.raises(NotFound) as missing:
        reader.get_source("no-such-source")
    assert missing.value.status == 404 and "no-such-source" in missing.value.detail
    assert missing.value.instance == "/v1/sources/no-such-source"

    admin.register_source("faq", title="FAQ", owner="support", source_class="faq")
    with pytest.raises(Conflict) as taken:
        admin.register_source("faq", title="FAQ", owner="support", source_class="faq")
    assert taken.value.status == 409

    with pytest.raises(InvalidInput) as invalid:
        reader.retrieve("refund", "no_such_task")
    assert invalid.value.status == 422 and invalid.value.field == "task_class"
    assert str(invalid.value).startswith("422 Request is invalid: ")

    with pytest.raises(InvalidInput) as bad_id:
        reader.retrieve("refund", "general_question", request_id="has spaces")
    assert bad_id.value.field == "X-Request-ID"

    for error in (unauthorized, forbidden, missing, taken, invalid):
        assert isinstance(error.value, FreshnessAPIError)


def test_a_body_over_the_limit_is_invalid_input(settings, clock, keys):
    small = dataclasses.replace(settings, max_body=2048)
    with serving_app(create_app(small, clock=clock)) as url, FreshnessClient(url, keys.admin) as admin:
        with pytest.raises(InvalidInput) as too_large:
            admin.register_source("faq", title="FAQ", owner="support", source_class="faq",
                                  metadata={"notes": "x" * 5000})
    assert too_large.value.status == 413


def _answering(status: int, body: bytes, content_type: str) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, content=body,
                                                              headers={"Content-Type": content_type}))


def test_an_answer_from_something_in_between_still_raises_by_status():
    """A proxy's HTML 502 is not a problem document: the error is made from the status and the text."""
    proxy = _answering(502, b"<html>Bad Gateway</html>", "text/html")
    with FreshnessClient("http://service", "fk_key", transport=proxy) as client, pytest.raises(Unavailable) as bad:
        client.retrieve("refund", "refund_decision")
    assert bad.value.status == 502 and bad.value.type == "about:blank" and "Bad Gateway" in bad.value.detail

    teapot = _answering(418, b'{"type": "x", "title": "Odd", "status": 418, "detail": "odd", "hint": 1}',
                        "application/problem+json")
    with FreshnessClient("http://service", "fk_key", transport=teapot) as client:
        with pytest.raises(FreshnessAPIError) as odd:
            client.get_policy()
    assert type(odd.value) is FreshnessAPIError and odd.value.extra == {"hint": 1}


def free_address() -> str:
    """A loopback address nothing listens on: a port taken and given back."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_no_service_at_the_address_is_unreachable(keys):
    url = free_address()
    with FreshnessClient(url, keys.reader, timeout=2) as client, pytest.raises(ServiceUnreachable) as down:
        client.retrieve("refund", "refund_decision")
    assert url in str(down.value)


def test_a_service_that_does_not_answer_in_time_is_unreachable_and_not_asked_again():
    released = threading.Event()
    asked: list[str] = []

    class Silent(BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            released.wait(5)  # holds the answer past the client's timeout
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args):
            pass

    with serving(Silent) as url:
        try:
            with FreshnessClient(url, "fk_key", timeout=0.2) as client, pytest.raises(ServiceUnreachable) as slow:
                client.get_policy()
        finally:
            released.set()
    assert asked == ["/v1/policy"] and "/v1/policy" in str(slow.value)
