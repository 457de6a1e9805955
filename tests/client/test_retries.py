"""A 503 on a call safe to repeat is sent again, a bounded number of times with a jittered wait; a retrieval
or a publish never is, so an answer is never recorded twice behind the application's back."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from freshness.client import AsyncFreshnessClient, FreshnessClient, Retry, ServiceUnreachable, Unavailable

FAST = Retry(attempts=3, backoff=0.001, max_backoff=0.01)
UNAVAILABLE = b'{"type": "https://freshness.dev/problems/unavailable", "title": "A backing service is unavailable",' \
              b' "status": 503, "detail": "the database did not answer within 5s"}'
POLICY = b'{"version": "sha256:ab", "source_classes": {}, "task_classes": {}}'


class Flaky:
    """Answers 503 `failures` times, then 200 with `body`; remembers every request it saw."""

    def __init__(self, failures: int, body: bytes = POLICY, retry_after: str | None = None) -> None:
        self.failures, self.body, self.retry_after = failures, body, retry_after
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if len(self.seen) <= self.failures:
            headers = {"Content-Type": "application/problem+json"}
            if self.retry_after is not None:
                headers["Retry-After"] = self.retry_after
            return httpx.Response(503, content=UNAVAILABLE, headers=headers)
        return httpx.Response(200, content=self.body, headers={"Content-Type": "application/json"})


def client_for(flaky: Flaky, retry: Retry = FAST) -> FreshnessClient:
    return FreshnessClient("http://service", "fk_key", retry=retry, transport=httpx.MockTransport(flaky))


def test_a_read_is_sent_again_after_a_503_and_succeeds():
    flaky = Flaky(failures=2)
    with client_for(flaky) as client:
        assert client.get_policy().version == "sha256:ab"
    assert [r.method for r in flaky.seen] == ["GET"] * 3


def test_retries_are_bounded_and_the_last_problem_is_raised():
    flaky = Flaky(failures=10)
    with client_for(flaky) as client, pytest.raises(Unavailable) as down:
        client.get_source("faq")
    assert len(flaky.seen) == 3 and down.value.detail == "the database did not answer within 5s"


def test_a_retrieval_is_not_sent_again():
    flaky = Flaky(failures=1)
    with client_for(flaky) as client, pytest.raises(Unavailable):
        client.retrieve("refund", "refund_decision", request_id="r-1")
    assert [(r.method, r.url.path) for r in flaky.seen] == [("POST", "/v1/retrieve")]
    assert flaky.seen[0].headers["x-request-id"] == "r-1"


def test_a_publish_is_not_sent_again():
    flaky = Flaky(failures=1)
    with client_for(flaky) as client, pytest.raises(Unavailable):
        client.publish("faq", [{"id": "a.md", "text": "hello"}])
    assert len(flaky.seen) == 1


def test_calls_safe_to_repeat_are_sent_again():
    snapshot = (b'{"id": "s1", "snapshot_id": "s1", "source_id": "faq", "version": null, "state": "active",'
                b' "content_hash": "sha256:00", "captured_at": "2026-01-01T00:00:00Z",'
                b' "verified_at": "2026-01-01T00:00:00Z", "valid_until": null, "created_at": "2026-01-01T00:00:00Z",'
                b' "activated_at": null, "superseded_at": null, "purged_at": null, "failed_at": null,'
                b' "failure_reason": null, "document_count": 1, "chunk_count": 1}')
    for call in (lambda c: c.verify("faq"), lambda c: c.activate("s1")):
        flaky = Flaky(failures=1, body=snapshot)
        with client_for(flaky) as client:
            assert call(client).id == "s1"
        assert len(flaky.seen) == 2 and flaky.seen[0].method == "POST"


def test_one_attempt_means_no_retry():
    flaky = Flaky(failures=1)
    with client_for(flaky, Retry(attempts=1)) as client, pytest.raises(Unavailable):
        client.get_policy()
    assert len(flaky.seen) == 1


def test_waits_are_jittered_below_a_doubling_cap_and_honour_retry_after_up_to_it():
    retry = Retry(attempts=5, backoff=0.5, max_backoff=3.0)
    waits = [retry.delay(3) for _ in range(200)]
    assert all(0 <= w <= 2.0 for w in waits) and len(set(waits)) > 100  # cap 0.5 * 2**2, drawn at random
    assert all(retry.delay(10) <= 3.0 for _ in range(50))
    assert retry.delay(1, retry_after="2") == 2.0
    assert retry.delay(1, retry_after="120") == 3.0  # never longer than the cap
    assert retry.delay(1, retry_after="Wed, 21 Oct 2026 07:28:00 GMT") <= 0.5
    with pytest.raises(ValueError):
        Retry(attempts=0)


def test_the_async_client_retries_reads_and_not_retrievals():
    async def scenario() -> tuple[int, int]:
        read, retrieval = Flaky(failures=2), Flaky(failures=1)
        async with AsyncFreshnessClient("http://service", "fk_key", retry=FAST,
                                        transport=httpx.MockTransport(read)) as client:
            assert (await client.get_policy()).version == "sha256:ab"
        async with AsyncFreshnessClient("http://service", "fk_key", retry=FAST,
                                        transport=httpx.MockTransport(retrieval)) as client:
            with pytest.raises(Unavailable):
                await client.retrieve("refund", "refund_decision")
        return len(read.seen), len(retrieval.seen)

    assert asyncio.run(scenario()) == (3, 1)


def test_a_refused_connection_is_retried_for_reads_only():
    refused: list[str] = []

    def nobody(request: httpx.Request) -> httpx.Response:
        refused.append(request.method)
        raise httpx.ConnectError("connection refused", request=request)

    with FreshnessClient("http://service", "fk_key", retry=FAST, transport=httpx.MockTransport(nobody)) as client:
        with pytest.raises(ServiceUnreachable):
            client.get_policy()
        with pytest.raises(ServiceUnreachable):
            client.retrieve("refund", "refund_decision")
    assert refused == ["GET", "GET", "GET", "POST"]
