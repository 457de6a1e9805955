"""The store behind the service, through both adapters: Qdrant Edge (embedded) and qdrant-client
(here in its local mode). A support assistant's chunks go in; searches must find the right text,
within the snapshots the service asks for, and a rolled-back snapshot must vanish without a trace."""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from freshness.errors import StoreLocked, Unavailable
from freshness.vectorstore.base import ChunkPoint, SearchFilter, SparseVec, VectorStore
from freshness.vectorstore.edge import EdgeStore
from freshness.vectorstore.embedders import bm25_document, bm25_query
from freshness.vectorstore.server import ServerStore

DIM = 4
# qdrant-client's local mode ignores keyword indexes; the server adapter still creates them.
pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")


def chunk_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chunk:{name}"))


# name: (snapshot, source, class, tags, text, dense direction)
CORPUS = {
    "refund-v2": ("snap-refund-2", "refund-policy", "policy", ["refunds", "eu"],
                  "Refunds are accepted within 30 days of purchase when the receipt is shown.", [1, 0, 0, 0]),
    "warranty-v2": ("snap-refund-2", "refund-policy", "policy", ["warranty"],
                    "The warranty covers manufacturing defects for two years.", [0, 1, 0, 0]),
    "refund-v1": ("snap-refund-1", "refund-policy", "policy", ["refunds"],
                  "Refunds are accepted within 14 days of purchase.", [1, 0, 0, 0]),
    "espresso": ("snap-prices-1", "price-list", "catalog", ["prices"],
                 "The espresso machine costs 499 euros including VAT.", [0, 0, 1, 0]),
    "grinder": ("snap-prices-1", "price-list", "catalog", ["prices"],
                "The coffee grinder costs 129 euros including VAT.", [0, 0, 0.8, 0.6]),
    "shipping": ("snap-faq-1", "shipping-faq", "faq", ["shipping"],
                 "Orders ship within two business days; shipping costs are not refunded.", [0, 0, 0, 1]),
}
SEQ = 1  # the serving sequence number at which snap-refund-2 replaced snap-refund-1


def where(**conditions) -> SearchFilter:
    """A search as a retrieval that read the active set at SEQ makes it."""
    return SearchFilter(served_at=SEQ, **conditions)


def point(name: str, with_dense: bool = True) -> ChunkPoint:
    snapshot, source, klass, tags, text, direction = CORPUS[name]
    payload = {"snapshot_id": snapshot, "source_id": source, "source_class": klass,
               "tags": tags, "document_id": f"{source}.md", "name": name}
    return ChunkPoint(chunk_id(name), bm25_document(text), [float(x) for x in direction] if with_dense else None,
                      payload)


def names(hits) -> list[str]:
    return [hit.payload["name"] for hit in hits]


@pytest.fixture(params=["edge", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    if request.param == "edge":
        opened: VectorStore = EdgeStore(tmp_path / "store")
    else:
        opened = ServerStore.connect("local::memory:", None, "test_chunks")
    yield opened
    opened.close()


@pytest.fixture
def filled(store: VectorStore) -> VectorStore:
    """The corpus with BM25 vectors only, as when no embedder is configured; the superseded refund text is
    served by no active snapshot from SEQ on."""
    store.upsert([point(name, with_dense=False) for name in CORPUS])
    store.mark_dead([chunk_id("refund-v1")], SEQ)
    return store


@pytest.fixture
def filled_dense(store: VectorStore) -> VectorStore:
    store.ensure_dense(DIM)
    store.upsert([point(name) for name in CORPUS])
    store.mark_dead([chunk_id("refund-v1")], SEQ)
    return store


# -- BM25 search ---------------------------------------------------------------------------------


def test_a_bm25_search_ranks_the_chunk_that_answers_the_question_first(filled: VectorStore) -> None:
    hits = filled.search(bm25_query("how much does the espresso machine cost"), None, where(), 10)

    assert names(hits)[0] == "espresso"
    assert hits[0].id == chunk_id("espresso")
    assert hits[0].payload["source_id"] == "price-list"
    assert hits == sorted(hits, key=lambda h: h.score, reverse=True)


def test_a_search_asked_for_some_fields_returns_only_those(filled_dense: VectorStore) -> None:
    query = bm25_query("how much does the espresso machine cost")
    everything = filled_dense.search(query, [0.0, 0.1, 0.9, 0.0], where(), 10)
    for dense in (None, [0.0, 0.1, 0.9, 0.0]):  # one search, and a fused one
        hits = filled_dense.search(query, dense, where(), 10, ["source_id"])
        assert hits and all(set(hit.payload) == {"source_id"} for hit in hits)
    sparse_only = filled_dense.search(query, None, where(), 10, ["source_id"])
    assert [h.id for h in sparse_only] == [h.id for h in filled_dense.search(query, None, where(), 10)]
    assert {h.payload["source_id"] for h in sparse_only} <= {h.payload["source_id"] for h in everything}
    assert "name" in everything[0].payload


def test_a_search_leaves_out_points_dead_at_the_number_it_was_read_at(filled: VectorStore) -> None:
    # The superseded 14-day refund text must never come back once snapshot 2 serves.
    query = bm25_query("refunds accepted days purchase")
    refunds = ["refund-policy"]
    assert names(filled.search(query, None, where(source_ids=refunds), 10)) == ["refund-v2"]
    # A retrieval that read the active set before the change still finds it (its snapshot was active then),
    # and one long after does not.
    earlier = SearchFilter(served_at=SEQ - 1, source_ids=refunds)
    assert set(names(filled.search(query, None, earlier, 10))) == {"refund-v1", "refund-v2"}
    later = SearchFilter(served_at=SEQ + 5, source_ids=refunds)
    assert names(filled.search(query, None, later, 10)) == ["refund-v2"]


def test_a_point_marked_served_again_is_found_again(filled: VectorStore) -> None:
    filled.mark_served([chunk_id("refund-v1")])
    filled.mark_served([])  # nothing to do, no error
    hits = filled.search(bm25_query("refunds accepted days purchase"), None, where(source_ids=["refund-policy"]), 10)
    assert set(names(hits)) == {"refund-v1", "refund-v2"}
    assert filled.count(dead=True) == 0


def test_the_points_of_a_publish_in_progress_are_left_out(filled: VectorStore) -> None:
    hits = filled.search(bm25_query("refunds warranty espresso"), None,
                         where(hidden_writers=["snap-refund-2", "snap-faq-1"]), 10)
    assert set(names(hits)) == {"espresso"}


def test_the_limit_caps_the_answer(filled: VectorStore) -> None:
    hits = filled.search(bm25_query("costs euros VAT refunds shipping"), None, where(), 2)
    assert len(hits) == 2


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (where(source_ids=["price-list"]), {"espresso", "grinder"}),
        (where(source_ids=["price-list", "shipping-faq"]), {"espresso", "grinder", "shipping"}),
        (where(source_classes=["faq"]), {"shipping"}),
        (where(tags=["refunds"]), {"refund-v2"}),
        (where(tags=["warranty", "shipping"]), {"warranty-v2", "shipping"}),
        (where(source_classes=["policy"], tags=["eu"]), {"refund-v2"}),
        (where(source_ids=["price-list"], source_classes=["faq"]), set()),
        (where(hidden_writers=["snap-prices-1"], source_ids=["price-list"]), set()),
    ],
)
def test_filters_narrow_the_live_snapshots_further(filled: VectorStore, where: SearchFilter, expected: set) -> None:
    # A query that touches every chunk, so only the filter decides what comes back.
    query = bm25_query("refunds warranty espresso grinder costs shipping days purchase")
    hits = filled.search(query, None, where, 20)
    assert set(names(hits)) == expected


# -- counting and deleting -----------------------------------------------------------------------


def test_counts(filled: VectorStore) -> None:
    assert filled.count() == len(CORPUS)
    assert filled.count(source_id="refund-policy") == 3
    assert filled.count(source_id="no-such-source") == 0
    assert filled.count(dead=True) == 1
    assert filled.count(source_id="refund-policy", dead=False) == 2


def test_deleting_a_snapshot_removes_its_points_and_nothing_else(filled: VectorStore) -> None:
    filled.delete_written_by("snap-refund-2")

    assert filled.count(source_id="refund-policy") == 1
    assert filled.count(source_id="price-list") == 2
    assert filled.count() == len(CORPUS) - 2
    hits = filled.search(bm25_query("warranty defects"), None, where(), 10)
    assert "warranty-v2" not in names(hits)


def test_held_counts_the_named_points_the_store_holds(filled: VectorStore) -> None:
    assert filled.held({chunk_id("espresso"), chunk_id("never-stored")}) == 1
    assert filled.held(set()) == 0
    # Counted a slice at a time: a held point in any slice counts once.
    many = {str(uuid.UUID(int=n + 1)) for n in range(3_000)} | {chunk_id("espresso")}
    assert filled.held(many) == 1


def test_the_dead_mark_is_indexed_once(tmp_path: Path) -> None:
    """A store is opened without the mark's index: the runtime marks the points first (sources.serving), then
    indexes; a store that has the index says so when it is opened again."""
    path = tmp_path / "edge"
    store = EdgeStore(path)
    assert store.dead_index_missing()
    store.index_dead()
    assert not store.dead_index_missing()
    store.close()
    reopened = EdgeStore(path)
    try:
        assert not reopened.dead_index_missing()
    finally:
        reopened.close()


def test_deleting_ids_removes_exactly_those_points(filled: VectorStore) -> None:
    filled.delete_ids([chunk_id("espresso"), chunk_id("shipping")])
    filled.delete_ids([])  # nothing to do, no error

    assert filled.count() == len(CORPUS) - 2
    assert filled.count(source_id="price-list") == 1
    hits = filled.search(bm25_query("costs euros"), None, where(), 10)
    assert names(hits) == ["grinder"]


def test_upserting_the_same_id_again_replaces_the_point(filled: VectorStore) -> None:
    replaced = point("espresso", with_dense=False)
    replaced.payload = {**replaced.payload, "tags": ["prices", "sale"]}
    filled.upsert([replaced])

    assert filled.count() == len(CORPUS)
    hits = filled.search(bm25_query("espresso"), None, where(tags=["sale"]), 10)
    assert names(hits) == ["espresso"]


# -- payload changes -----------------------------------------------------------------------------


def test_retagging_a_source_is_seen_by_tag_filters(filled: VectorStore) -> None:
    # An owner PATCHes the price list's tags; searches by tag must follow at once.
    filled.set_payload_for_source("price-list", {"tags": ["recalled"]})

    query = bm25_query("costs euros espresso grinder")
    assert set(names(filled.search(query, None, where(tags=["recalled"]), 10))) == {"espresso", "grinder"}
    assert filled.search(query, None, where(tags=["prices"]), 10) == []
    # Other sources keep their tags.
    assert names(filled.search(bm25_query("refunds"), None, where(tags=["eu"]), 10)) == ["refund-v2"]


# -- vectors for reuse ---------------------------------------------------------------------------


def test_stored_vectors_come_back_for_reuse_in_the_next_snapshot(store: VectorStore) -> None:
    store.ensure_dense(DIM)
    store.upsert([point("grinder"), point("shipping", with_dense=False)])

    got = store.vectors([chunk_id("grinder"), chunk_id("shipping"), chunk_id("never-stored")])

    assert set(got) == {chunk_id("grinder"), chunk_id("shipping")}
    sparse, dense = got[chunk_id("grinder")]
    expected = bm25_document(CORPUS["grinder"][4])
    got_weights = dict(zip(sparse.indices, sparse.values, strict=True))
    assert got_weights == pytest.approx(dict(zip(expected.indices, expected.values, strict=True)))
    assert dense == pytest.approx([0.0, 0.0, 0.8, 0.6], abs=1e-6)  # already unit length: stored as given
    assert got[chunk_id("shipping")][1] is None
    assert store.vectors([]) == {}


def test_reused_vectors_make_an_equivalent_point(store: VectorStore) -> None:
    store.ensure_dense(DIM)
    store.upsert([point("refund-v2")])
    sparse, dense = store.vectors([chunk_id("refund-v2")])[chunk_id("refund-v2")]
    copy_id = chunk_id("refund-v3")
    store.upsert([ChunkPoint(copy_id, SparseVec(sparse.indices, sparse.values), dense,
                             {"snapshot_id": "snap-refund-3", "source_id": "refund-policy", "name": "refund-v3"})])

    only_copy = where(hidden_writers=["snap-refund-2"])
    hits = store.search(bm25_query("refunds receipt"), None, only_copy, 5)
    assert names(hits) == ["refund-v3"]
    dense_hits = store.search(None, [1.0, 0.0, 0.0, 0.0], only_copy, 5)
    assert dense_hits[0].score == pytest.approx(1.0, abs=1e-5)


# -- dense and hybrid search ---------------------------------------------------------------------


def test_dense_search_ranks_the_nearest_direction_first(filled_dense: VectorStore) -> None:
    hits = filled_dense.search(None, [0.0, 0.1, 0.9, 0.0], where(), 10)

    assert names(hits)[:2] == ["espresso", "grinder"]
    assert hits[0].score > hits[1].score


def test_dense_search_respects_the_dead_mark(filled_dense: VectorStore) -> None:
    hits = filled_dense.search(None, [1.0, 0.0, 0.0, 0.0], where(), 10)
    assert names(hits)[0] == "refund-v2"
    assert "refund-v1" not in names(hits)
    before = filled_dense.search(None, [1.0, 0.0, 0.0, 0.0], SearchFilter(served_at=SEQ - 1), 10)
    assert "refund-v1" in names(before)


def test_hybrid_search_fuses_keyword_and_meaning(filled_dense: VectorStore) -> None:
    # "refunds" matches the refund and shipping texts by keyword; the dense query points at the
    # refund text too, so fusion must put it first, and a dense-only neighbour still shows up.
    hits = filled_dense.search(bm25_query("refunds"), [0.9, 0.0, 0.0, 0.1], where(), 10)

    assert names(hits)[0] == "refund-v2"
    assert "shipping" in names(hits)
    assert "refund-v1" not in names(hits)
    # Reciprocal rank fusion with k = 60, ranks counted from 0: first in both lists scores 2 / 60.
    assert hits[0].score == pytest.approx(2 / 60, rel=1e-3)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_hybrid_search_applies_the_filter_to_both_branches(filled_dense: VectorStore) -> None:
    only_faq = where(source_classes=["faq"])
    hits = filled_dense.search(bm25_query("refunds"), [1.0, 0.0, 0.0, 0.0], only_faq, 10)
    assert names(hits) == ["shipping"]


def test_ensure_dense_twice_with_the_same_size_is_harmless(filled_dense: VectorStore) -> None:
    filled_dense.ensure_dense(DIM)
    assert filled_dense.count() == len(CORPUS)


def test_a_different_dense_size_is_refused_as_unavailable(filled_dense: VectorStore) -> None:
    # A changed embedder must be reported, not crash the caller with a driver error.
    with pytest.raises(Unavailable):
        filled_dense.ensure_dense(DIM + 1)


# -- scrolling -----------------------------------------------------------------------------------


def test_scrolling_pages_through_every_point_once(filled: VectorStore) -> None:
    seen: list[str] = []
    payloads: dict[str, dict] = {}
    offset = None
    pages = 0
    while True:
        rows, offset = filled.scroll_ids(offset, 4)
        pages += 1
        assert len(rows) <= 4
        seen.extend(point_id for point_id, _ in rows)
        payloads.update(rows)
        if offset is None:
            break
        assert pages < 10, "scrolling does not end"

    assert pages == 2
    assert sorted(seen) == sorted(chunk_id(name) for name in CORPUS)
    assert payloads[chunk_id("espresso")]["snapshot_id"] == "snap-prices-1"


def test_scrolling_an_empty_store_ends_at_once(store: VectorStore) -> None:
    assert store.scroll_ids(None, 10) == ([], None)


def test_ping_answers_when_the_store_is_open(store: VectorStore) -> None:
    store.ping()
    assert store.count() == 0


# -- Qdrant Edge: one owner, and durable ---------------------------------------------------------


def test_the_embedded_store_cannot_be_opened_twice(tmp_path: Path) -> None:
    # A CLI command run while `serve` holds the store must be told so, not wait or corrupt it.
    first = EdgeStore(tmp_path / "store")
    try:
        with pytest.raises(StoreLocked, match="HTTP API"):
            EdgeStore(tmp_path / "store")
        first.upsert([point("espresso", with_dense=False)])
        assert first.count() == 1  # the owner is unaffected
    finally:
        first.close()


def test_the_embedded_store_can_be_opened_again_after_close(tmp_path: Path) -> None:
    EdgeStore(tmp_path / "store").close()
    again = EdgeStore(tmp_path / "store")
    again.close()


def test_the_embedded_store_keeps_its_points_across_a_restart(tmp_path: Path) -> None:
    first = EdgeStore(tmp_path / "store", vector_size=DIM)
    first.upsert([point(name) for name in CORPUS])
    first.close()

    reopened = EdgeStore(tmp_path / "store")
    try:
        assert reopened.count() == len(CORPUS)
        assert reopened.count(source_id="price-list") == 2
        hits = reopened.search(bm25_query("espresso machine"), None, where(), 5)
        assert names(hits)[0] == "espresso"
        # The dense vectors and the filters' payload survive as well.
        dense_hits = reopened.search(None, [0.0, 0.0, 0.0, 1.0], where(tags=["shipping"]), 5)
        assert names(dense_hits) == ["shipping"]
        reopened.ensure_dense(DIM)  # the service asks again at start; same size is fine
    finally:
        reopened.close()


def test_dense_search_scores_are_cosine_similarities(filled_dense: VectorStore) -> None:
    hits = filled_dense.search(None, [0.0, 0.0, 1.0, 0.0], where(source_ids=["price-list"]), 10)
    scores = {name: hit.score for name, hit in zip(names(hits), hits, strict=True)}
    assert scores["espresso"] == pytest.approx(1.0, abs=1e-5)
    assert scores["grinder"] == pytest.approx(0.8, abs=1e-5)
    assert not any(math.isnan(s) for s in scores.values())


def test_the_embedded_store_remembers_the_source_of_a_hit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A search that asks only for the source reads it from the payload storage once per point, and again once
    the point is written again; past its bound the memory starts again and still answers every hit."""
    store = EdgeStore(tmp_path / "store")
    try:
        store.upsert([point(name, with_dense=False) for name in CORPUS])
        reads = _count_reads(store, monkeypatch)
        query = bm25_query("refunds within days of purchase")
        first = store.search(query, None, where(), 10, ["source_id"])
        expected = {chunk_id(name): CORPUS[name][1] for name in CORPUS}
        assert len(first) >= 2 and all(hit.payload == {"source_id": expected[hit.id]} for hit in first)
        assert reads == [len(first)]
        again = store.search(query, None, where(), 10, ["source_id"])
        assert [(h.id, h.payload) for h in again] == [(h.id, h.payload) for h in first]
        assert reads == [len(first)]  # nothing read again

        moved = point("refund-v2", with_dense=False)
        moved.payload["source_id"] = "refund-policy-eu"  # as reconciliation rewrites a point's payload
        store.upsert([moved])
        after = {h.id: h.payload["source_id"] for h in store.search(query, None, where(), 10, ["source_id"])}
        assert after[chunk_id("refund-v2")] == "refund-policy-eu"
        assert reads[-1] == 1

        monkeypatch.setattr("freshness.vectorstore.edge_sources.SOURCES_REMEMBERED", 1)
        store.upsert([point("refund-v2", with_dense=False)])  # forgotten: the next search reads it, past the bound
        full = store.search(query, None, where(), 10, ["source_id"])
        assert {h.id: h.payload["source_id"] for h in full} == {**after, chunk_id("refund-v2"): "refund-policy"}
        assert store.memory.known == {chunk_id("refund-v2"): "refund-policy"}  # started again with what it read
        store.search(query, None, where(), 10, ["source_id"])
        assert reads[-1] == len(full) - 1  # every point but the one remembered read again

        monkeypatch.setattr("freshness.vectorstore.edge_sources.SOURCES_REMEMBERED", 500_000)
        store.search(query, None, where(), 10, ["source_id"])
        assert chunk_id("refund-v2") in store.memory.known
        store.delete_ids([chunk_id("refund-v2")])
        gone = store.search(query, None, where(), 10, ["source_id"])
        assert gone and chunk_id("refund-v2") not in {h.id for h in gone}
        assert chunk_id("refund-v2") not in store.memory.known
    finally:
        store.close()


def test_a_source_read_while_the_point_is_written_is_not_remembered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rewrite that lands between a search's read of a source and its remembering it: the next search reads it
    again and finds the source written (else the point would stay under its old source until a restart)."""
    store = EdgeStore(tmp_path / "store")
    try:
        store.upsert([point(name, with_dense=False) for name in CORPUS])
        moved = point("refund-v2", with_dense=False)
        moved.payload["source_id"] = "refund-policy-eu"
        retrieve = store.shard.retrieve

        def read_then_rewritten(ids, **options):
            records = retrieve(ids, **options)  # the old source, read
            store.upsert([moved])  # then the rewrite ends before the search remembers what it read
            return records

        monkeypatch.setattr(store, "shard", _Spy(store.shard, retrieve=read_then_rewritten))
        query = bm25_query("refunds within days of purchase")
        during = {h.id: h.payload["source_id"] for h in store.search(query, None, where(), 10, ["source_id"])}
        assert during[chunk_id("refund-v2")] == "refund-policy"  # answered as read
        monkeypatch.setattr(store, "shard", store.shard._shard)
        after = {h.id: h.payload["source_id"] for h in store.search(query, None, where(), 10, ["source_id"])}
        assert after[chunk_id("refund-v2")] == "refund-policy-eu"
    finally:
        store.close()


def test_a_warmed_up_store_knows_the_source_of_every_live_point(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`warm_up` reads every point's source but those of points no snapshot serves (dead), a page at a time, so
    that a search reads no source from the payload storage; a second call starts nothing."""
    monkeypatch.setattr("freshness.vectorstore.edge_sources.WARM_PAGE", 2)
    store = EdgeStore(tmp_path / "store")
    try:
        store.upsert([point(name, with_dense=False) for name in CORPUS])
        store.mark_dead([chunk_id("refund-v1")], SEQ)
        pages: list[int] = []
        scroll = store.shard.scroll

        def counted(request):
            records, offset = scroll(request)
            pages.append(len(records))
            return records, offset

        reads = _count_reads(store, monkeypatch)
        monkeypatch.setattr(store, "shard", _Spy(store.shard._shard, retrieve=store.shard.retrieve, scroll=counted))
        store.warm_up(wait=True)
        live = {chunk_id(name): CORPUS[name][1] for name in CORPUS if name != "refund-v1"}
        assert store.memory.known == live
        assert len(pages) >= len(live) // 2 and max(pages) <= 2
        store.warm_up(wait=True)
        assert len(pages) >= len(live) // 2 and sum(pages) == len(live)  # no second pass

        hits = store.search(bm25_query("refunds within days of purchase"), None, where(), 10, ["source_id"])
        assert hits and all(hit.payload == {"source_id": live[hit.id]} for hit in hits)
        assert reads == []
    finally:
        store.close()


def test_a_warm_up_page_read_while_a_write_ends_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rewrite that ends between the warm-up's read of a page and its remembering it: the page is read again, and
    left to the searches when writes end during every one of its reads."""
    monkeypatch.setattr("freshness.vectorstore.edge_sources.WARM_PAGE", 100)  # one page: every point
    for rewrites, remembered in ((1, "refund-policy-eu"), (3, None)):
        store = EdgeStore(tmp_path / f"store-{rewrites}")
        try:
            store.upsert([point(name, with_dense=False) for name in CORPUS])
            moved = point("refund-v2", with_dense=False)
            moved.payload["source_id"] = "refund-policy-eu"
            scroll = store.shard.scroll
            reads: list[int] = []

            def read_then_rewritten(request, store=store, moved=moved, scroll=scroll, reads=reads,
                                    rewrites=rewrites):
                page = scroll(request)  # the sources as they were, read
                reads.append(len(page[0]))
                if len(reads) <= rewrites:
                    store.upsert([moved])  # a write ends before the warm-up remembers what it read
                return page

            monkeypatch.setattr(store, "shard", _Spy(store.shard, scroll=read_then_rewritten))
            store.warm_up(wait=True)
            assert len(reads) == min(rewrites + 1, 3)
            assert store.memory.known.get(chunk_id("refund-v2")) == remembered
            monkeypatch.setattr(store, "shard", store.shard._shard)
            found = {h.id: h.payload["source_id"] for h in
                     store.search(bm25_query("refunds within days of purchase"), None, where(), 10, ["source_id"])}
            assert found[chunk_id("refund-v2")] == "refund-policy-eu"
        finally:
            store.close()


def test_a_store_with_more_live_points_than_half_the_memory_is_not_read_ahead(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Searches would fill the rest and empty the memory: read ahead only when every live point fits in half."""
    for bound, remembered in ((2 * len(CORPUS), len(CORPUS)), (2 * len(CORPUS) - 2, 0)):
        monkeypatch.setattr("freshness.vectorstore.edge_sources.SOURCES_REMEMBERED", bound)
        store = EdgeStore(tmp_path / f"store-{bound}")
        try:
            store.upsert([point(name, with_dense=False) for name in CORPUS])
            store.warm_up(wait=True)
            assert len(store.memory.known) == remembered
        finally:
            store.close()


def test_a_closed_store_starts_no_warm_up(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "store")
    store.close()
    store.warm_up(wait=True)
    assert store.memory.warming is None


def test_closing_the_store_stops_its_warm_up_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`close` waits for the page being read and reads no other, then closes the shard."""
    monkeypatch.setattr("freshness.vectorstore.edge_sources.WARM_PAGE", 1)
    store = EdgeStore(tmp_path / "store")
    store.upsert([point(name, with_dense=False) for name in CORPUS])
    reading, go_on = threading.Event(), threading.Event()
    pages: list[str] = []
    scroll = store.shard.scroll

    def slow(request):
        reading.set()
        assert go_on.wait(timeout=30)  # a bound on waiting, not a measurement
        page = scroll(request)
        pages.append("read")
        return page

    monkeypatch.setattr(store, "shard", _Spy(store.shard, scroll=slow))
    store.warm_up()
    closer = threading.Thread(target=store.close)
    try:
        assert reading.wait(timeout=30)
        closer.start()
        assert not pages  # close is waiting for the page in progress
    finally:
        go_on.set()
        if closer.is_alive():
            closer.join(timeout=30)
        else:
            store.close()
    assert not closer.is_alive()
    assert pages == ["read"]  # the page in progress, and no other
    assert store.memory.warming is not None and not store.memory.warming.is_alive()


def _count_reads(store: EdgeStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many points each read of sources asked the store for, in order."""
    reads: list[int] = []
    retrieve = store.shard.retrieve

    def counted(ids, **options):
        reads.append(len(ids))
        return retrieve(ids, **options)

    monkeypatch.setattr(store, "shard", _Spy(store.shard, retrieve=counted))
    return reads


class _Spy:
    """The shard, with the methods given replaced."""

    def __init__(self, shard, **replaced) -> None:
        self._shard = shard
        for name, method in replaced.items():
            setattr(self, name, method)

    def __getattr__(self, name: str):
        return getattr(self._shard, name)
