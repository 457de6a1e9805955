"""The benchmark programs run end to end on a tiny corpus. Nothing here asserts a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.corpus import SIZES, Corpus
from bench.report import build, markdown, targets
from bench.runner import run, update_docs


def test_the_corpus_is_the_same_for_the_same_seed() -> None:
    one, two = Corpus(SIZES["tiny"], seed=3), Corpus(SIZES["tiny"], seed=3)
    source = one.sources[1]
    assert one.documents(source) == two.documents(two.sources[1])
    assert list(one.queries(5)) == list(two.queries(5))
    assert one.documents(source) != Corpus(SIZES["tiny"], seed=4).documents(source)
    stale = [s for s in one.sources if s.stale]
    assert 0 < len(stale) < len(one.sources)
    assert {s.source_class for s in one.sources} == {"policy", "catalog", "faq"}


@pytest.mark.timeout(120)
def test_a_tiny_run_measures_every_figure_and_audits_every_answer(tmp_path: Path) -> None:
    results = run("tiny", seed=7, work=tmp_path)

    retrieval = results["retrieval"]
    for name in ("floor", "service", "http_1", "http_n", "hybrid_floor", "hybrid_service"):
        assert retrieval[name]["count"] > 0, name
        assert retrieval[name]["errors"] == 0, name
    # Every answer has its audit record, in-process and over HTTP.
    for name in ("service", "hybrid_service", "http_1", "http_n"):
        assert retrieval[name]["audit_records"] == retrieval[name]["answers"], name
    assert retrieval["service"]["results_per_query"] > 0

    ingestion = results["ingestion"]
    assert ingestion["first"]["chunks"] == SIZES["tiny"].chunks
    assert ingestion["unchanged"]["new_snapshots"] == 0
    assert ingestion["changed"]["new_snapshots"] == ingestion["changed"]["sources_touched"] >= 1
    assert ingestion["changed"]["chunks_reused"] > 0
    assert ingestion["under_load"]["retrieval"]["errors"] == 0

    assert results["audit"]["verify"]["records"] == SIZES["tiny"].audit_records
    assert results["memory"]["serve_peak"] > 0 and results["memory"]["ingest_peak"] > 0

    text = markdown(build(results) + [targets(results)])
    assert "bare Qdrant Edge" in text and "Targets" in text
    docs = tmp_path / "benchmarks.md"
    update_docs(docs, "tiny", text)
    update_docs(docs, "tiny", text)
    assert docs.read_text().count("<!-- results:tiny -->") == 1
