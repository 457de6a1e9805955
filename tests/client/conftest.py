"""A live service for the client's tests, with the keys of every role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from freshness.app import create_app
from freshness.client import FreshnessClient
from tests.client.live import serving_app


@pytest.fixture
def service_url(settings, clock, keys) -> Iterator[str]:
    with serving_app(create_app(settings, clock=clock)) as url:
        yield url


@pytest.fixture
def as_key(service_url):
    """A sync client for one key, closed at the end of the test."""
    made: list[FreshnessClient] = []

    def make(key: str, **options) -> FreshnessClient:
        made.append(FreshnessClient(service_url, key, **options))
        return made[-1]

    yield make
    for client in made:
        client.close()
