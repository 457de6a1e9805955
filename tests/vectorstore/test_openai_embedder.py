"""An operator points FRESHNESS_EMBEDDER at an OpenAI-compatible embeddings endpoint (vLLM, TEI,
OpenAI). Here a real HTTP server on 127.0.0.1 plays that endpoint, so the embedder's requests,
batching and error handling are observed on the wire."""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import pytest

from freshness.errors import ConfigError, Unavailable
from freshness.vectorstore.embedders import OpenAICompatibleEmbedder, make_embedder
from tests.loopback import serving


def vector_of(text: str) -> list[float]:
    """What the fake endpoint answers for a text: deterministic and different for different texts."""
    digest = hashlib.sha256(text.encode()).digest()
    return [float(len(text)), digest[0] / 255, digest[1] / 255]


@dataclass
class Endpoint:
    url: str
    requests: list[dict] = field(default_factory=list)
    mode: str = "ok"  # ok | fail | short | garbage


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    state = Endpoint(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            if self.path != "/v1/embeddings":
                return self._send(404, {"error": "not found"})
            if state.mode == "fail":
                return self._send(500, {"error": {"message": "model overloaded"}})
            if state.mode == "garbage":
                return self._send(200, {"object": "list"})
            texts = body["input"]
            items = [{"object": "embedding", "index": i, "embedding": vector_of(t)} for i, t in enumerate(texts)]
            items.reverse()  # servers may answer out of order; `index` says which text is which
            if state.mode == "short":
                items = items[1:]
            self._send(200, {"object": "list", "data": items, "model": body["model"]})

        def _send(self, status: int, payload: dict) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args) -> None:
            pass

    with serving(Handler) as base:
        state.url = base + "/v1/embeddings"
        yield state


TEXTS = [
    "Refunds are accepted within 30 days.",
    "The warranty covers two years.",
    "Espresso machine: 499 euros.",
    "Orders ship within two business days.",
    "Gift cards cannot be refunded.",
]


def test_each_text_gets_its_own_vector_in_order_even_when_the_server_answers_out_of_order(
    endpoint: Endpoint,
) -> None:
    embedder = OpenAICompatibleEmbedder(endpoint.url, "bge-small")

    vectors = embedder.embed(TEXTS)

    assert vectors == [vector_of(t) for t in TEXTS]
    assert all(isinstance(x, float) for v in vectors for x in v)
    assert len(endpoint.requests) == 1


def test_texts_are_sent_in_batches_of_the_configured_size(endpoint: Endpoint) -> None:
    embedder = OpenAICompatibleEmbedder(endpoint.url, "bge-small", batch=2)

    vectors = embedder.embed(TEXTS)

    assert [r["body"]["input"] for r in endpoint.requests] == [TEXTS[0:2], TEXTS[2:4], TEXTS[4:5]]
    assert vectors == [vector_of(t) for t in TEXTS]


def test_the_model_and_the_api_key_are_sent(endpoint: Endpoint) -> None:
    embedder = OpenAICompatibleEmbedder(endpoint.url, "text-embedding-3-small", api_key="sk-test-123")

    embedder.embed(["hello"])

    request = endpoint.requests[0]
    assert request["path"] == "/v1/embeddings"
    assert request["body"] == {"model": "text-embedding-3-small", "input": ["hello"]}
    assert request["headers"]["Authorization"] == "Bearer sk-test-123"


def test_without_an_api_key_no_authorization_header_is_sent(endpoint: Endpoint) -> None:
    OpenAICompatibleEmbedder(endpoint.url, "bge-small").embed(["hello"])
    assert "Authorization" not in endpoint.requests[0]["headers"]


def test_nothing_to_embed_sends_no_request(endpoint: Endpoint) -> None:
    assert OpenAICompatibleEmbedder(endpoint.url, "bge-small").embed([]) == []
    assert endpoint.requests == []


def test_a_server_error_is_reported_as_unavailable(endpoint: Endpoint) -> None:
    endpoint.mode = "fail"
    embedder = OpenAICompatibleEmbedder(endpoint.url, "bge-small")

    with pytest.raises(Unavailable) as caught:
        embedder.embed(["hello"])
    assert endpoint.url in str(caught.value)
    assert "500" in str(caught.value)
    assert caught.value.status == 503


def test_fewer_vectors_than_texts_is_reported_as_unavailable(endpoint: Endpoint) -> None:
    # A silent mismatch would attach the wrong vector to a chunk; the publish must fail instead.
    endpoint.mode = "short"
    embedder = OpenAICompatibleEmbedder(endpoint.url, "bge-small")

    with pytest.raises(Unavailable, match="returned 2 vectors for 3 texts"):
        embedder.embed(TEXTS[:3])


def test_an_answer_without_data_is_reported_as_unavailable(endpoint: Endpoint) -> None:
    endpoint.mode = "garbage"
    with pytest.raises(Unavailable, match="failed"):
        OpenAICompatibleEmbedder(endpoint.url, "bge-small").embed(["hello"])


def test_a_wrong_path_is_reported_as_unavailable(endpoint: Endpoint) -> None:
    wrong = endpoint.url.replace("/v1/embeddings", "/v1/embedding")
    with pytest.raises(Unavailable, match="404"):
        OpenAICompatibleEmbedder(wrong, "bge-small").embed(["hello"])


def test_an_endpoint_that_is_down_is_reported_as_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is closed again: nothing listens there.
    with pytest.raises(Unavailable):
        OpenAICompatibleEmbedder(f"http://127.0.0.1:{port}/v1/embeddings", "bge-small", timeout=2).embed(["hello"])


# -- choosing an embedder from settings ----------------------------------------------------------


@pytest.mark.parametrize("spec", ["none", ""])
def test_no_embedder_means_bm25_only(spec: str) -> None:
    assert make_embedder(spec, "text-embedding-3-small", None) is None


def test_an_http_url_makes_an_openai_compatible_embedder_that_works(endpoint: Endpoint) -> None:
    embedder = make_embedder(endpoint.url, "bge-small", "sk-test-123")

    assert isinstance(embedder, OpenAICompatibleEmbedder)
    assert embedder.embed(["hi"]) == [vector_of("hi")]
    assert endpoint.requests[0]["body"]["model"] == "bge-small"
    assert endpoint.requests[0]["headers"]["Authorization"] == "Bearer sk-test-123"


@pytest.mark.parametrize("spec", ["openai", "ftp://embeddings.example", "sentence-transformers:foo"])
def test_an_unknown_embedder_spec_is_a_config_error_listing_the_choices(spec: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_embedder(spec, "text-embedding-3-small", None)
    assert repr(spec) in str(caught.value)
    assert "none" in str(caught.value) and "fastembed" in str(caught.value)
