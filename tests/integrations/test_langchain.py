"""A LangChain app asks for context: Documents with their provenance, and the fallback when it is too old."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.documents import Document

from freshness.client import InsufficientContext, InvalidInput
from freshness.integrations.langchain import FreshnessRetriever
from tests.integrations.conftest import METADATA_KEYS


def retriever(service_url, keys, **fields) -> FreshnessRetriever:
    return FreshnessRetriever(base_url=service_url, api_key=keys.reader, **{"task_class": "refund_decision",
                                                                             **fields})


def test_invoke_returns_documents_with_their_provenance(service_url, keys):
    documents = retriever(service_url, keys, top_k=2).invoke("refund within 30 days")
    assert 1 <= len(documents) <= 2 and all(isinstance(d, Document) for d in documents)
    top = documents[0]
    assert top.page_content == "Refunds are accepted within 30 days of delivery."
    assert set(top.metadata) == METADATA_KEYS
    assert top.metadata["source_id"] == "refund-policy" and top.metadata["snapshot_version"] == "2026-11"
    assert top.metadata["document_id"] == "refunds.md" and top.metadata["uri"] == "https://help.example.com/refunds"
    assert top.metadata["status"] == "ok" and top.metadata["freshness"] == "fresh" and top.metadata["rank"] == 1
    assert top.metadata["captured_at"].endswith("Z") and top.metadata["age_seconds"] == 0
    assert top.id == top.metadata["chunk_id"]
    assert len({d.metadata["request_id"] for d in documents}) == 1


def test_filters_narrow_the_candidates(service_url, keys):
    found = retriever(service_url, keys, task_class="general_question",
                      filters={"source_ids": ["shipping"]}).invoke("orders ship refund")
    assert {d.metadata["source_id"] for d in found} == {"shipping"}


def test_stale_context_raises_for_the_fallback_unless_asked_to_return(service_url, keys, clock):
    clock.advance(days=8)  # the policy class's max_age is 7d
    with pytest.raises(InsufficientContext) as raised:
        retriever(service_url, keys).invoke("refund within 30 days")
    assert raised.value.results == [] and {r.reason for r in raised.value.rejected} == {"stale"}
    assert raised.value.request_id

    assert retriever(service_url, keys, on_insufficient="return").invoke("refund within 30 days") == []
    flagged = retriever(service_url, keys, task_class="general_question").invoke("refund within 30 days")
    assert flagged and flagged[0].metadata["status"] == "flagged" and flagged[0].metadata["freshness"] == "stale"


def test_the_async_path_and_a_problem_from_the_service(service_url, keys):
    documents = asyncio.run(retriever(service_url, keys).ainvoke("refund within 30 days"))
    assert documents[0].metadata["document_id"] == "refunds.md"
    with pytest.raises(InvalidInput) as invalid:
        retriever(service_url, keys, task_class="no_such_task").invoke("refund")
    assert invalid.value.field == "task_class"


def test_the_key_stays_out_of_what_langchain_prints_and_serialises(service_url, keys):
    built = retriever(service_url, keys)
    assert keys.reader not in repr(built) and keys.reader not in str(built.model_dump())
    with pytest.raises(ValueError):
        FreshnessRetriever(base_url=service_url, api_key=keys.reader, task_class="refund_decision", top_k=0)
