"""A LlamaIndex app asks for context: NodeWithScore with the same provenance, and the same fallback."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core.schema import NodeWithScore, QueryBundle

from freshness.client import InsufficientContext
from freshness.integrations.llama_index import FreshnessRetriever
from tests.integrations.conftest import METADATA_KEYS


def test_retrieve_returns_scored_nodes_with_their_provenance(service_url, keys):
    nodes = FreshnessRetriever(service_url, keys.reader, "refund_decision", top_k=2).retrieve("refund within 30 days")
    assert nodes and all(isinstance(n, NodeWithScore) for n in nodes)
    top = nodes[0]
    assert top.node.get_content() == "Refunds are accepted within 30 days of delivery."
    assert set(top.node.metadata) == METADATA_KEYS
    assert top.node.node_id == top.node.metadata["chunk_id"]
    assert top.score == top.node.metadata["score"] and top.score > 0
    assert top.node.metadata["snapshot_version"] == "2026-11" and top.node.metadata["freshness"] == "fresh"


def test_async_retrieval_with_filters(service_url, keys):
    retriever = FreshnessRetriever(service_url, keys.reader, "general_question",
                                   filters={"source_ids": ["shipping"]})
    nodes = asyncio.run(retriever.aretrieve(QueryBundle("when do orders ship")))
    assert [n.node.metadata["document_id"] for n in nodes] == ["ship.md"]


def test_stale_context_raises_unless_asked_to_return(service_url, keys, clock):
    clock.advance(days=8)
    with pytest.raises(InsufficientContext) as raised:
        FreshnessRetriever(service_url, keys.reader, "refund_decision").retrieve("refund within 30 days")
    assert raised.value.rejected and raised.value.results == []
    returned = FreshnessRetriever(service_url, keys.reader, "refund_decision", on_insufficient="return")
    assert returned.retrieve("refund within 30 days") == []
