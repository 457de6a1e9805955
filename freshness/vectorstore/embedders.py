"""BM25 sparse vectors for every chunk, and optional dense embedders."""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import httpx
import qdrant_edge as qe

from freshness.errors import ConfigError, Unavailable
from freshness.vectorstore.base import SparseVec


@lru_cache(maxsize=1)
def _bm25() -> qe.Bm25:
    return qe.Bm25()


def bm25_document(text: str) -> SparseVec:
    vec = _bm25().embed_document(text)
    return SparseVec(list(vec.indices), list(vec.values))


def bm25_query(text: str) -> SparseVec:
    vec = _bm25().embed_query(text)
    return SparseVec(list(vec.indices), list(vec.values))


class Embedder(Protocol):
    """Dense embeddings for chunk texts and queries."""

    def embed(self, texts: list[str]) -> list[list[float]]: ...


class OpenAICompatibleEmbedder:
    """Any endpoint that speaks the OpenAI `/v1/embeddings` shape (vLLM, TEI, llama.cpp, OpenAI)."""

    def __init__(self, url: str, model: str, api_key: str | None = None, batch: int = 64, timeout: float = 30) -> None:
        self.url = url
        self.model = model
        self.batch = batch
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(timeout=timeout, headers=headers)

    def embed(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch):
            part = texts[start : start + self.batch]
            try:
                response = self.client.post(self.url, json={"model": self.model, "input": part})
                response.raise_for_status()
                data = sorted(response.json()["data"], key=lambda item: item["index"])
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                raise Unavailable(f"the embedder at {self.url} failed: {exc}") from exc
            if len(data) != len(part):
                raise Unavailable(f"the embedder at {self.url} returned {len(data)} vectors for {len(part)} texts")
            out.extend([float(x) for x in item["embedding"]] for item in data)
        return out


class FastEmbedEmbedder:
    """A local fastembed model (optional extra `fastembed`; the model must already be cached)."""

    def __init__(self, model: str) -> None:
        try:
            from fastembed import TextEmbedding
        except ImportError as exc:
            raise ConfigError("FRESHNESS_EMBEDDER=fastembed:... needs `pip install freshness[fastembed]`") from exc
        self.model = TextEmbedding(model_name=model)

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, v)) for v in self.model.embed(texts)]


def make_embedder(spec: str, model: str, api_key: str | None) -> Embedder | None:
    """`none`, `http(s)://...` (OpenAI-compatible) or `fastembed:<model>`."""
    if spec in ("", "none"):
        return None
    if spec.startswith(("http://", "https://")):
        return OpenAICompatibleEmbedder(spec, model, api_key)
    if spec.startswith("fastembed"):
        name = spec.partition(":")[2] or "BAAI/bge-small-en-v1.5"
        return FastEmbedEmbedder(name)
    raise ConfigError(f"embedder {spec!r}: use none, an http(s):// embeddings URL, or fastembed:<model>")
