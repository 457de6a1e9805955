"""Keys of the sources story: a reader browsing, and the catalog team's publisher beside the support team's."""

from __future__ import annotations

import pytest

from tests.conftest import Api


@pytest.fixture
def reader(client, keys) -> Api:
    return Api(client, keys.reader)


@pytest.fixture
def catalog(client, keys) -> Api:
    """A publisher bound to owner `catalog-team`."""
    return Api(client, keys.catalog)
