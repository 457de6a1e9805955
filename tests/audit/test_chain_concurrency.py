"""Many RAG requests arrive at once, on one instance or on two instances sharing the database: every
answer gets its own audit record, and the records form one unbroken chain in the order they were
written."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from litestar.testing import TestClient
from sqlalchemy import text

from freshness.app import create_app
from freshness.db import make_engine
from freshness.vectorstore.edge import EdgeStore
from tests.conftest import GENESIS, Api, publish, register

REQUESTS = 48
THREADS = 8


def _corpus(admin: Api) -> None:
    register(admin, "refund-policy", "policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])
    register(admin, "shipping-faq", "faq")
    publish(admin, "shipping-faq", [{"id": "shipping.md", "text": "Refunds are shipped back within 5 days."}])


def _retrieve_all(readers: list[Api]) -> list[dict]:
    """Send REQUESTS retrievals from THREADS threads, spread over the given instances."""

    def one(i: int) -> dict:
        reader = readers[i % len(readers)]
        task = ("refund_decision", "general_question", "order_status")[i % 3]
        response = reader.post("/v1/retrieve", json={"query": "refund days", "task_class": task,
                                                     "request_id": f"concurrent-{i:03d}"})
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(one, range(REQUESTS)))


def _assert_one_linear_chain(settings, auditor: Api, answers: list[dict]) -> None:
    assert auditor.get("/v1/audit/verify").json() == {"ok": True, "records_checked": REQUESTS, "first_bad": None}
    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT seq, request_id, prev_hash, record_hash FROM retrievals ORDER BY seq"))
            rows = [tuple(r) for r in rows]
            head = tuple(conn.execute(text("SELECT seq, last_hash FROM audit_chain_head WHERE id = 1")).one())
    finally:
        engine.dispose()
    assert [seq for seq, *_ in rows] == list(range(1, REQUESTS + 1))
    assert rows[0][2] == GENESIS
    for (_, _, _, previous_hash), (seq, _, prev_hash, _) in zip(rows, rows[1:], strict=False):
        assert prev_hash == previous_hash, f"seq {seq} is not chained to seq {seq - 1}"
    assert len({record_hash for *_, record_hash in rows}) == REQUESTS
    assert sorted(request_id for _, request_id, _, _ in rows) == sorted(a["request_id"] for a in answers)
    assert head == (REQUESTS, rows[-1][3])


def test_concurrent_retrievals_on_one_instance_form_one_linear_chain(admin, keys, settings):
    _corpus(admin)

    answers = _retrieve_all([admin.as_key(keys.reader)])

    assert all(answer["results"] for answer in answers)
    _assert_one_linear_chain(settings, admin.as_key(keys.auditor), answers)


@pytest.fixture
def shared_store(settings):
    store = EdgeStore(settings.store_path)
    yield store
    store.close()


class _Unclosable:
    """Both instances use one store object; the test closes it, not either instance."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def close(self) -> None:
        pass


def test_concurrent_retrievals_on_two_instances_of_one_database_form_one_linear_chain(
    settings, clock, keys, shared_store
):
    app_a = create_app(settings, clock=clock, store=_Unclosable(shared_store))
    app_b = create_app(settings, clock=clock, store=_Unclosable(shared_store))
    with TestClient(app=app_a) as a, TestClient(app=app_b) as b:
        _corpus(Api(a, keys.admin))

        answers = _retrieve_all([Api(a, keys.reader), Api(b, keys.reader)])

        assert all(answer["results"] for answer in answers)
        _assert_one_linear_chain(settings, Api(b, keys.auditor), answers)
