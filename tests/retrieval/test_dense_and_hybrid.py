"""A RAG app that embeds its own queries sends the vector with the question: the answer fuses the
keyword ranking (BM25) with the ranking by meaning, and the auditor sees that a vector was given.

The support team published the refund policy with their own 4-dimensional embeddings, one per chunk.
"""

from __future__ import annotations

import pytest

from tests.conftest import Api, publish, register

# Both keyword chunks say "refund"; the first says it three times, so BM25 alone ranks it first.
KEYWORDS = "Refund requests: refund, refund, within 30 days of delivery."
MONEY_BACK = "Money is paid back to the original card within five days of a refund being approved."
GIFT_CARDS = "Gift cards and vouchers are final once bought."
CHUNKS = [KEYWORDS, MONEY_BACK, GIFT_CARDS]
VECTORS = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]

NEAR_MONEY_BACK = [0.0, 1.0, 0.5, 0.0]  # nearest MONEY_BACK, then GIFT_CARDS; orthogonal to KEYWORDS
NEAR_GIFT_CARDS = [0.0, 0.0, 1.0, 0.0]


@pytest.fixture
def reader(client, keys) -> Api:
    return Api(client, keys.reader)


@pytest.fixture
def auditor(client, keys) -> Api:
    return Api(client, keys.auditor)


@pytest.fixture
def refunds(support) -> dict:
    register(support, "refund-policy", "policy")
    return publish(support, "refund-policy",
                   [{"id": "refunds.md", "chunks": CHUNKS, "vectors": VECTORS}], version="v1")


def ask(reader: Api, request_id: str, vector: list[float] | None = None, **extra) -> dict:
    body = {"query": "refund", "task_class": "refund_decision", "top_k": 3, "request_id": request_id, **extra}
    if vector is not None:
        body["vector"] = vector
    response = reader.post("/v1/retrieve", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def texts(answer: dict) -> list[str]:
    return [r["text"] for r in answer["results"]]


def test_the_vector_reorders_what_the_keywords_alone_would_rank(refunds, reader, auditor):
    keywords_only = ask(reader, "words-only")
    assert texts(keywords_only) == [KEYWORDS, MONEY_BACK]

    hybrid = ask(reader, "with-vector", NEAR_MONEY_BACK)

    # MONEY_BACK is second by keywords and first by meaning; KEYWORDS is first by keywords and last by
    # meaning; GIFT_CARDS has no keyword and is found by meaning only.
    assert texts(hybrid) == [MONEY_BACK, KEYWORDS, GIFT_CARDS]
    assert [r["rank"] for r in hybrid["results"]] == [1, 2, 3]
    assert [r["score"] for r in hybrid["results"]] == sorted((r["score"] for r in hybrid["results"]), reverse=True)
    assert hybrid["status"] == "ok"
    assert {r["snapshot_id"] for r in hybrid["results"]} == {refunds["snapshot"]["id"]}
    assert all(r["freshness"] == "fresh" for r in hybrid["results"])

    record = auditor.get("/v1/audit/retrievals/with-vector")
    assert record.status_code == 200, record.text
    audited = record.json()
    assert audited["vector_given"] is True
    assert [r["chunk_id"] for r in audited["results"]] == [r["chunk_id"] for r in hybrid["results"]]
    assert [r["score"] for r in audited["results"]] == [r["score"] for r in hybrid["results"]]
    assert auditor.get("/v1/audit/retrievals/words-only").json()["vector_given"] is False
    assert auditor.get("/v1/audit/verify").json() == {"ok": True, "records_checked": 2, "first_bad": None}


def test_the_vector_finds_a_chunk_that_shares_no_word_with_the_query(refunds, reader):
    assert GIFT_CARDS not in texts(ask(reader, "words-only", top_k=1))

    hybrid = ask(reader, "gift-cards", NEAR_GIFT_CARDS, top_k=3)

    assert GIFT_CARDS in texts(hybrid)
    assert len(hybrid["results"]) == 3


def test_the_vector_cannot_reach_content_the_task_may_not_use(support, reader):
    register(support, "refund-policy", "policy")
    old = publish(support, "refund-policy",
                  [{"id": "refunds.md", "chunks": ["Refunds within 60 days."], "vectors": [[0.0, 0.0, 0.0, 1.0]]}])
    new = publish(support, "refund-policy",
                  [{"id": "refunds.md", "chunks": ["Refunds within 30 days."], "vectors": [[1.0, 0.0, 0.0, 0.0]]}])
    register(support, "shipping-faq", "faq")  # not a source class that refund_decision may use
    publish(support, "shipping-faq",
            [{"id": "faq.md", "chunks": ["Parcels ship in two days."], "vectors": [[0.0, 0.0, 0.0, 1.0]]}])

    # The vector points straight at the superseded snapshot's chunk and at the FAQ chunk.
    answer = ask(reader, "aimed-at-old", [0.0, 0.0, 0.0, 1.0], top_k=5)

    assert [r["snapshot_id"] for r in answer["results"]] == [new["snapshot"]["id"]]
    assert old["snapshot"]["id"] not in str(answer)
    assert "Parcels" not in str(answer)


def test_a_vector_of_the_wrong_dimension_is_refused_and_leaves_no_record(refunds, reader, auditor):
    response = reader.post("/v1/retrieve", json={"query": "refund", "task_class": "refund_decision",
                                                 "vector": [0.0, 1.0, 0.0], "request_id": "three-dims"})

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert "dimension 3" in problem["detail"] and "expected 4" in problem["detail"]
    assert auditor.get("/v1/audit/retrievals/three-dims").status_code == 404
    assert auditor.get("/v1/audit/verify").json()["records_checked"] == 0
    # The same request with the right dimension is answered.
    assert ask(reader, "three-dims", NEAR_MONEY_BACK)["results"]
