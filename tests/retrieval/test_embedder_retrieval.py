"""An operator points FRESHNESS_EMBEDDER at an OpenAI-compatible embeddings endpoint: the service
embeds every published chunk and every query, and answers by keywords and meaning together.

A real HTTP server on 127.0.0.1 plays the endpoint. It embeds by concept: words of one topic
("refund", "reimbursement", "money") land on the same axis, so a query can match a chunk by meaning
while sharing no word with it, which BM25 alone cannot do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler

import pytest
from litestar.testing import TestClient

from freshness.app import create_app
from tests.conftest import Api, publish, register
from tests.loopback import serving

CONCEPTS = [
    {"refund", "refunds", "refunded", "reimbursement", "reimbursed", "money"},
    {"ship", "ships", "shipping", "parcel", "parcels", "courier", "delivery"},
    {"warranty", "repair", "repairs", "broken", "defect"},
]
DIM = len(CONCEPTS) + 1

REFUNDS = "Refunds are accepted within 30 days of purchase."
SHIPPING = "Parcels ship within two business days by courier."
WARRANTY = "Repairs under warranty are free for two years."


def embedding(text: str) -> list[float]:
    """One axis per concept, plus a small constant axis so that no vector is all zero."""
    vector = [0.0] * DIM
    for word in re.findall(r"[a-z]+", text.lower()):
        for axis, words in enumerate(CONCEPTS):
            if word in words:
                vector[axis] += 1.0
    vector[-1] = 0.05
    return vector


@dataclass
class Endpoint:
    url: str = ""
    inputs: list[list[str]] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        return [text for batch in self.inputs for text in batch]


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    state = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.inputs.append(list(body["input"]))
            items = [{"object": "embedding", "index": i, "embedding": embedding(t)}
                     for i, t in enumerate(body["input"])]
            raw = json.dumps({"object": "list", "data": items, "model": body["model"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args) -> None:
            pass

    with serving(Handler) as base:
        state.url = base + "/v1/embeddings"
        yield state


@dataclass
class World:
    admin: Api
    reader: Api
    auditor: Api
    snapshot_id: str
    publish_stats: dict


@pytest.fixture
def world(settings, clock, keys, endpoint) -> Iterator[World]:
    app = create_app(replace(settings, embedder=endpoint.url, embedder_model="concepts-4"), clock=clock)
    with TestClient(app=app) as client:
        admin = Api(client, keys.admin)
        register(admin, "refund-policy", "policy")
        published = publish(admin, "refund-policy", [
            {"id": "refunds.md", "text": REFUNDS},
            {"id": "shipping.md", "text": SHIPPING},
            {"id": "warranty.md", "text": WARRANTY},
        ], version="v1")
        yield World(admin, Api(client, keys.reader), Api(client, keys.auditor), published["snapshot"]["id"],
                    published["stats"])


def test_published_text_is_embedded_by_the_configured_endpoint(world, endpoint):
    assert sorted(endpoint.texts) == sorted([REFUNDS, SHIPPING, WARRANTY])
    assert world.publish_stats["chunks_embedded"] == 3


def test_a_query_that_shares_no_word_with_the_chunk_finds_it_by_meaning(world, endpoint):
    before = len(endpoint.inputs)

    response = world.reader.post("/v1/retrieve", json={"query": "reimbursement", "task_class": "refund_decision",
                                                       "top_k": 1, "request_id": "by-meaning"})

    assert response.status_code == 200, response.text
    answer = response.json()
    assert endpoint.inputs[before:] == [["reimbursement"]]
    assert answer["status"] == "ok"
    [result] = answer["results"]
    assert result["text"] == REFUNDS and result["document_id"] == "refunds.md"
    assert result["snapshot_id"] == world.snapshot_id and result["freshness"] == "fresh"

    record = world.auditor.get("/v1/audit/retrievals/by-meaning").json()
    assert record["query"] == "reimbursement" and record["vector_given"] is False
    assert [r["chunk_id"] for r in record["results"]] == [result["chunk_id"]]
    assert record["results"][0]["snapshot"]["version"] == "v1"
    assert world.auditor.get("/v1/audit/verify").json() == {"ok": True, "records_checked": 1, "first_bad": None}


def test_keywords_and_meaning_are_fused(world):
    # "courier" is a keyword of the shipping chunk; "reimbursement" matches the refund chunk by meaning only.
    answer = world.reader.post("/v1/retrieve", json={"query": "courier reimbursement", "task_class":
                                                     "refund_decision", "top_k": 2}).json()

    assert [r["text"] for r in answer["results"]] == [SHIPPING, REFUNDS]


def test_a_vector_sent_by_the_client_is_used_instead_of_asking_the_endpoint(world, endpoint):
    before = len(endpoint.inputs)
    warranty_axis = [0.0, 0.0, 1.0, 0.0]

    answer = world.reader.post("/v1/retrieve", json={"query": "reimbursement", "task_class": "refund_decision",
                                                     "top_k": 1, "vector": warranty_axis}).json()

    assert endpoint.inputs[before:] == []
    assert [r["text"] for r in answer["results"]] == [WARRANTY]
