"""`FreshnessRetriever` for LlamaIndex: `retrieve(query)` returns `NodeWithScore`s whose nodes are the chunks.

    retriever = FreshnessRetriever("http://127.0.0.1:8000", "fk_...", task_class="refund_decision")
    nodes = retriever.retrieve("can I get a refund after 30 days?")

Each node's id is the chunk id, its text the chunk text, its metadata the chunk's provenance (the same keys
as the LangChain retriever's); the score is the service's. A query bundle's embedding, when it has one, goes
as the dense query vector. An `insufficient_context` answer raises `freshness.client.InsufficientContext`
unless on_insufficient="return". Install with `pip install 'freshness[llama-index]'`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from freshness.client import AsyncFreshnessClient, FreshnessClient
from freshness.integrations.provenance import OnInsufficient, chunk_metadata, passed
from freshness.retrieval.schemas import RetrieveResponse


class FreshnessRetriever(BaseRetriever):
    """Context for one task class, judged by the service's freshness policy."""

    def __init__(self, base_url: str, api_key: str, task_class: str, *, top_k: int = 5,
                 filters: Mapping[str, Sequence[str]] | None = None, on_insufficient: OnInsufficient = "raise",
                 timeout: float = 10.0, **options: Any) -> None:
        super().__init__(**options)
        self.base_url = base_url
        self._api_key = api_key  # kept out of repr and of the attributes a callback would walk
        self.task_class = task_class
        self.top_k = top_k
        self.filters = {name: list(values) for name, values in filters.items()} if filters is not None else None
        self.on_insufficient = on_insufficient
        self.timeout = timeout

    def _ask(self, query: QueryBundle) -> dict[str, Any]:
        return {"query": query.query_str, "task_class": self.task_class, "top_k": self.top_k,
                "filters": self.filters, "vector": query.embedding}

    def _nodes(self, answer: RetrieveResponse) -> list[NodeWithScore]:
        return [NodeWithScore(node=TextNode(id_=result.chunk_id, text=result.text,
                                            metadata=chunk_metadata(answer, result)),
                              score=result.score)
                for result in passed(answer, self.on_insufficient)]

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        with FreshnessClient(self.base_url, self._api_key, timeout=self.timeout) as client:
            return self._nodes(client.retrieve(**self._ask(query_bundle)))

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        async with AsyncFreshnessClient(self.base_url, self._api_key, timeout=self.timeout) as client:
            return self._nodes(await client.retrieve(**self._ask(query_bundle)))
