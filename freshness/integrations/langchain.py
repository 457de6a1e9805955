"""`FreshnessRetriever` for LangChain: `invoke(query)` retrieves through the service and returns `Document`s.

    retriever = FreshnessRetriever(base_url="http://127.0.0.1:8000", api_key="fk_...",
                                   task_class="refund_decision")
    documents = retriever.invoke("can I get a refund after 30 days?")

`page_content` is the chunk text; `metadata` holds its provenance (freshness.integrations.provenance).
An `insufficient_context` answer raises `freshness.client.InsufficientContext` unless the retriever is
built with on_insufficient="return". Install with `pip install 'freshness[langchain]'`.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import Field, SecretStr

from freshness.client import AsyncFreshnessClient, FreshnessClient
from freshness.integrations.provenance import OnInsufficient, chunk_metadata, passed
from freshness.retrieval.schemas import RetrieveResponse


class FreshnessRetriever(BaseRetriever):
    """Context for one task class, judged by the service's freshness policy."""

    base_url: str
    # A SecretStr: LangChain prints, traces and serialises retrievers; the key must not go with them.
    api_key: SecretStr
    task_class: str
    top_k: int = Field(default=5, ge=1, le=100)
    filters: dict[str, list[str]] | None = None
    on_insufficient: OnInsufficient = "raise"
    timeout: float = 10.0

    def _documents(self, answer: RetrieveResponse) -> list[Document]:
        return [Document(page_content=result.text, metadata=chunk_metadata(answer, result), id=result.chunk_id)
                for result in passed(answer, self.on_insufficient)]

    def _ask(self) -> dict[str, Any]:
        return {"task_class": self.task_class, "top_k": self.top_k, "filters": self.filters}

    # A client per call: a retriever lives in a chain for the life of the application, and an open
    # connection pool held by a model object would outlive the event loop or thread that made it.
    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        with FreshnessClient(self.base_url, self.api_key.get_secret_value(), timeout=self.timeout) as client:
            return self._documents(client.retrieve(query, **self._ask()))

    async def _aget_relevant_documents(self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
                                       ) -> list[Document]:
        async with AsyncFreshnessClient(self.base_url, self.api_key.get_secret_value(),
                                        timeout=self.timeout) as client:
            return self._documents(await client.retrieve(query, **self._ask()))
