"""A service that starts on a store it has published to before reads the sources of the points it serves in the
background, so that its searches do not read them from the store's payloads one hit at a time."""

from __future__ import annotations

from litestar.testing import TestClient

from freshness.app import create_app
from tests.conftest import Api, publish, register

DOCUMENTS = [
    {"id": "returns", "text": "Refunds are accepted within 30 days of delivery."},
    {"id": "shipping", "text": "Parcels leave the warehouse within two working days."},
]


def test_a_started_service_knows_the_source_of_every_point_it_serves(settings, clock, keys, monkeypatch):
    with TestClient(app=create_app(settings, clock=clock)) as first:
        admin = Api(first, keys.admin)
        register(admin, "returns-policy")
        publish(admin, "returns-policy", DOCUMENTS[:1])
        publish(admin, "returns-policy", DOCUMENTS)  # the first snapshot's points are served no more
        register(admin, "shipping-faq", source_class="faq")
        publish(admin, "shipping-faq", DOCUMENTS[1:])

    with TestClient(app=create_app(settings, clock=clock)) as second:
        store = second.app.state.runtime.store
        assert store.memory.warming is not None  # started by the app as it opened
        store.warm_up(wait=True)
        assert sorted(set(store.memory.known.values())) == ["returns-policy", "shipping-faq"]

        read: list[int] = []
        monkeypatch.setattr(store, "shard", _Counted(store.shard, read))
        answer = Api(second, keys.reader).post("/v1/retrieve", json={"query": "refunds within 30 days",
                                                                       "task_class": "general_question"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"][0]["source_id"] == "returns-policy"
        assert read == []  # every hit's source came from memory


class _Counted:
    """The shard, counting the points whose payloads `retrieve` reads."""

    def __init__(self, shard, read: list[int]) -> None:
        self._shard = shard
        self._read = read

    def retrieve(self, ids, **options):
        self._read.append(len(ids))
        return self._shard.retrieve(ids, **options)

    def __getattr__(self, name: str):
        return getattr(self._shard, name)
