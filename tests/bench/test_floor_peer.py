"""The floor service and the LangChain peer run on a tiny corpus; the targets table names every target."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import httpx
import pytest

from bench import peer, retrieval
from bench.corpus import SIZES, Corpus
from bench.floor import FloorServer
from bench.ingestion import publish_pass, register_all
from bench.report import targets
from bench.workspace import Workspace


def test_changes_are_spread_over_every_source_when_there_are_enough() -> None:
    corpus = Corpus(SIZES["large"], seed=7)
    changes = corpus.spread_changes(0.01)
    assert len(changes) == SIZES["large"].sources
    assert sum(len(d) for d in changes.values()) == SIZES["large"].documents // 100
    assert corpus.spread_changes(0.01, 1) != changes
    few = Corpus(SIZES["tiny"], seed=7).spread_changes(0.01)
    assert sum(len(d) for d in few.values()) == 1


@pytest.mark.timeout(120)
def test_the_floor_answers_from_the_store_and_chains_one_audit_row_per_answer(tmp_path: Path) -> None:
    corpus = Corpus(SIZES["tiny"], seed=7)
    workspace = Workspace(tmp_path / "run")
    workspace.create()
    runtime = workspace.open()
    try:
        register_all(runtime, corpus.sources)
        publish_pass(runtime, corpus)
        filters = retrieval.search_filters(runtime)
    finally:
        runtime.close()
    server = FloorServer(workspace.settings.store_path, filters, tmp_path / "floor", scan=50)
    try:
        queries = list(corpus.queries(6))
        answers = [httpx.post(server.url + "/retrieve", json={"query": q.text, "task_class": q.task_class},
                              timeout=30).json() for q in queries]
        assert server.records() == len(queries)
    finally:
        server.stop()
    assert any(answer["results"] for answer in answers)
    for answer, q in zip(answers, queries, strict=True):
        allowed = filters[q.task_class]["source_classes"]  # empty: every class
        assert not allowed or {hit["payload"]["source_class"] for hit in answer["results"]} <= set(allowed)
    with sqlite3.connect(tmp_path / "floor" / "floor-audit.db") as conn:
        rows = conn.execute("SELECT request_id, content, prev_hash, record_hash FROM audit ORDER BY seq").fetchall()
    head = "0" * 64
    for (request_id, content, prev, digest), answer in zip(rows, answers, strict=True):
        assert request_id == answer["request_id"] and prev == head
        assert digest == hashlib.sha256(head.encode() + content.encode()).hexdigest()
        head = digest


@pytest.mark.timeout(120)
@pytest.mark.skipif(not peer.available(), reason="the bench extra (LangChain) is not installed")
def test_the_peer_and_freshness_publish_the_same_corpus_and_skip_what_is_unchanged(tmp_path: Path) -> None:
    result = peer.run(tmp_path, size=SIZES["tiny"])
    for side in ("freshness", "langchain"):
        assert result[side]["first"]["written"] == SIZES["tiny"].chunks, side
        assert result[side]["unchanged"]["written"] == 0, side
    changed_chunks = result["changed_documents"] * SIZES["tiny"].chunks_per_doc
    assert result["langchain"]["changed"]["written"] == changed_chunks
    assert result["freshness"]["changed"]["written"] == changed_chunks
    assert set(result["speedup"]) == {"first", "unchanged", "changed"}


def test_the_targets_table_names_every_target_of_the_task() -> None:
    series = {"p50_ms": 2.0, "p99_ms": 4.0, "per_s": 100.0, "errors": 0, "audit_records": 3, "answers": 3}
    results = {
        "size": {"name": "tiny"},
        "retrieval": {k: dict(series) for k in ("floor", "service", "http_1", "http_n", "floor_http_1",
                                                 "floor_http_n")},
        "ingestion": {"first": {"seconds": 10.0, "store_bytes": 100},
                      "unchanged": {"seconds": 0.4}, "changed": {"seconds": 2.0, "store_bytes_after_rounds": 110},
                      "under_load": {"retrieval": {"p99_ms": 5.0}}},
        "memory": {"serve_peak": 2**20},
        "peer": {"speedup": {"first": 5.0, "unchanged": 4.0, "changed": 2.0}},
    }
    rows = {row[0]: row[2] for row in targets(results).rows}
    assert len(rows) == 13
    assert rows["3. unchanged re-publish ≤ 5% of first"] == "yes"
    assert rows["3. 1% changed (every source) re-publish ≤ 10% of first"] == "no"
    assert rows["3. 1% changed ≥ 3× faster than LangChain's index()"] == "no"
    assert rows["1. HTTP 1 client: p50 ≤ floor p50 + 1 ms"] == "yes"
    assert rows["5. store after ten 1%-changed re-publishes ≤ 1.2× after the first"] == "yes"
