"""Points shared across snapshots: a re-publish writes points only for the documents that changed, and nothing
in the store for the kept ones, whose points serve the new snapshot under chunk ids of its own; the points
only the superseded snapshot served are marked dead. Rollback, purge, a failed publish and reconciliation
keep every snapshot that may serve answering from exactly its own content."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from sqlalchemy import select

from freshness.db import session_scope
from freshness.jobs.reconcile import reconcile
from freshness.models import Chunk, Snapshot, SnapshotState
from freshness.sources import publish as publishing
from freshness.sources import serving
from freshness.sources.prepare import sent_hashes
from freshness.sources.schemas import DocumentIn, PublishRequest
from freshness.vectorstore import ChunkPoint
from freshness.vectorstore.base import DEAD_FROM
from tests.conftest import Api, publish, register
from tests.points import points_held

TOPICS = ["espresso grinder burrs", "kettle descaling vinegar", "warranty defects receipt", "shipping parcels courier"]


def _docs(changed: dict[int, str] | None = None) -> list[dict]:
    changed = changed or {}
    return [{"id": f"doc-{i}.md",
             "chunks": [f"{topic} part one of document {i}.", f"{topic} part two {changed.get(i, '')}."]}
            for i, topic in enumerate(TOPICS)]


def _rows(runtime, snapshot_id: str) -> dict[str, tuple[str, str]]:
    """(document, position) -> (chunk id, point id) of a snapshot's chunk rows."""
    with session_scope(runtime.sessions) as session:
        rows = session.execute(select(Chunk.document_id, Chunk.position, Chunk.chunk_id, Chunk.point_id)
                               .where(Chunk.snapshot_id == snapshot_id)).all()
    return {f"{r.document_id}#{r.position}": (r.chunk_id, r.point_id) for r in rows}


def _served(admin: Api, reader: str, query: str) -> list[dict]:
    body = {"query": query, "task_class": "general_question", "top_k": 2}
    response = admin.as_key(reader).post("/v1/retrieve", json=body)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def _activate(admin: Api, snapshot_id: str, expect: int = 200) -> dict:
    response = admin.post(f"/v1/snapshots/{snapshot_id}/activate")
    assert response.status_code == expect, response.text
    return response.json()


def test_a_republish_writes_points_only_for_the_documents_that_changed(admin, runtime, keys):
    register(admin, "manual", "faq")
    v1 = publish(admin, "manual", _docs(), version="v1")
    points_before = runtime.store.count()
    assert points_before == 8

    v2 = publish(admin, "manual", _docs({3: "now by air"}), version="v2")
    stats = v2["stats"]
    # One chunk of the changed document is new text; its other chunk's vectors are reused, but as a new point.
    assert stats["chunks"] == 8 and stats["chunks_embedded"] == 1 and stats["chunks_reused"] == 7
    # Only the changed document's two chunks are new points; the kept six serve both snapshots.
    assert runtime.store.count() == points_before + 2
    v1_id, v2_id = v1["snapshot"]["id"], v2["snapshot"]["id"]
    assert points_held(runtime, v2_id) == 8 and points_held(runtime, v1_id) == 8
    # The kept points were not written again: they still name v1 as their writer. The changed document's
    # earlier points are marked dead; nothing else is.
    payloads = dict(runtime.store.scroll_ids(None, 100)[0])
    old_doc3 = {p for place, (_, p) in _rows(runtime, v1_id).items() if place.startswith("doc-3.md")}
    assert {p for p, payload in payloads.items() if DEAD_FROM in payload} == old_doc3
    assert {payload["snapshot_id"] for p, payload in payloads.items() if p not in old_doc3} == {v1_id, v2_id}
    assert sum(payload["snapshot_id"] == v2_id for payload in payloads.values()) == 2

    old, new = _rows(runtime, v1_id), _rows(runtime, v2_id)
    assert set(old) == set(new)
    assert not {c for c, _ in old.values()} & {c for c, _ in new.values()}, "chunk ids are unique across the service"
    for place in new:
        same_point = new[place][1] == old[place][1]
        assert same_point == (not place.startswith("doc-3.md")), place

    # A kept chunk is served as the new snapshot's, under the new snapshot's chunk id, with its text, which
    # is stored once: the copied row refers to the row that holds it.
    served = _served(admin, keys.reader, "kettle descaling vinegar")[0]
    assert served["snapshot_id"] == v2_id
    assert served["chunk_id"] in {c for c, _ in new.values()}
    assert served["text"].startswith("kettle descaling vinegar part")
    with session_scope(runtime.sessions) as session:
        texts = dict(session.execute(select(Chunk.document_id, Chunk.text)
                                     .where(Chunk.snapshot_id == v2_id, Chunk.position == 0)).all())
    assert texts["doc-3.md"] and all(texts[f"doc-{i}.md"] is None for i in range(3))


def test_the_same_text_with_other_vectors_is_a_changed_document(admin, runtime):
    register(admin, "vectors", "faq")
    docs = [{"id": "a.md", "chunks": ["espresso grinder burrs"], "vectors": [[1.0, 0.0, 0.0]]},
            {"id": "b.md", "chunks": ["kettle descaling vinegar"], "vectors": [[0.0, 1.0, 0.0]]},
            {"id": "c.md", "chunks": ["warranty defects receipt"], "vectors": [[0.0, 1.0, 1.0]]}]
    v1 = publish(admin, "vectors", docs)["snapshot"]["id"]
    docs[0]["vectors"] = [[0.0, 0.0, 1.0]]
    docs[2]["chunks"] = ["warranty defects receipt, two years"]
    v2 = publish(admin, "vectors", docs)["snapshot"]["id"]

    old, new = _rows(runtime, v1), _rows(runtime, v2)
    assert new["b.md#0"][1] == old["b.md#0"][1]
    assert new["a.md#0"][1] != old["a.md#0"][1]
    dense = runtime.store.vectors([new["a.md#0"][1]])[new["a.md#0"][1]][1]
    assert dense == pytest.approx([0.0, 0.0, 1.0], abs=1e-5)


def test_rolling_back_serves_the_old_snapshot_from_its_own_chunks(admin, runtime, keys, clock):
    register(admin, "manual", "faq")
    v1 = publish(admin, "manual", _docs(), version="v1")["snapshot"]["id"]
    clock.advance(minutes=1)
    v2 = publish(admin, "manual", _docs({3: "now by air"}), version="v2")["snapshot"]["id"]
    clock.advance(minutes=1)
    v3 = publish(admin, "manual", _docs({3: "now by air", 2: "extended"}), version="v3")["snapshot"]["id"]
    # Dead: v1's doc-3 (since v2) and the doc-2 of v1 and v2 (since v3).
    assert runtime.store.count(dead=True) == 4

    _activate(admin, v1)
    # Now dead: the points v1 does not hold (v2's doc-3, v3's doc-2); v1's own are served again.
    assert runtime.store.count(dead=True) == 4 and points_held(runtime, v1) == 8
    served = _served(admin, keys.reader, "espresso grinder burrs")
    assert [r["snapshot_id"] for r in served] == [v1, v1]
    assert {r["chunk_id"] for r in served} <= {c for c, _ in _rows(runtime, v1).values()}
    shipping = _served(admin, keys.reader, "shipping parcels courier")
    assert all("by air" not in r["text"] for r in shipping) and shipping[0]["snapshot_id"] == v1

    _activate(admin, v3)
    served = _served(admin, keys.reader, "warranty defects receipt")
    assert {r["snapshot_id"] for r in served} == {v3} and any("extended" in r["text"] for r in served)
    assert _served(admin, keys.reader, "espresso grinder burrs")[0]["snapshot_id"] == v3
    with session_scope(runtime.sessions) as session:
        assert session.get(Snapshot, v2).state == SnapshotState.SUPERSEDED  # retained, never served meanwhile


def test_a_rollback_during_a_publish_of_the_source_is_served_until_the_publish_ends(admin, runtime, keys,
                                                                                      monkeypatch):
    register(admin, "manual", "faq")
    v1 = publish(admin, "manual", _docs(), version="v1")["snapshot"]["id"]
    publish(admin, "manual", _docs({1: "again"}), version="v2")
    reached, release = threading.Event(), threading.Event()
    real = publishing.check_kept

    def held(*args, **kwargs):
        reached.set()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(publishing, "check_kept", held)
    outcome: dict = {}
    worker = threading.Thread(target=lambda: outcome.update(
        publish(admin, "manual", _docs({1: "once more"}), version="v3")))
    worker.start()
    try:
        assert reached.wait(30)
        assert _activate(admin, v1)["state"] == "active"
        served = _served(admin, keys.reader, "kettle descaling vinegar part two")
        assert {r["snapshot_id"] for r in served} == {v1} and all("again" not in r["text"] for r in served)
    finally:
        release.set()
        worker.join(30)
    # The publish ends after the rollback: it is served, the documents it kept included.
    v3 = outcome["snapshot"]["id"]
    served = _served(admin, keys.reader, "kettle descaling vinegar part two")
    assert served[0]["snapshot_id"] == v3 and "once more" in served[0]["text"]
    assert [r["snapshot_id"] for r in _served(admin, keys.reader, "espresso grinder burrs")] == [v3, v3]
    # Dead: doc-1 as v1 and as v2 sent it.
    assert runtime.store.count(dead=True) == 4


def test_purge_deletes_only_the_points_no_live_snapshot_holds(admin, runtime, keys, clock, run):
    register(admin, "manual", "faq")
    v1 = publish(admin, "manual", _docs(), version="v1")["snapshot"]["id"]
    v2 = publish(admin, "manual", _docs({3: "now by air"}), version="v2")["snapshot"]["id"]
    old_doc3 = {p for place, (_, p) in _rows(runtime, v1).items() if place.startswith("doc-3.md")}

    clock.advance(days=8)
    result = run("purge")
    assert result.counts["snapshots_purged"] == 1 and result.counts["points_deleted"] == 2
    assert runtime.store.vectors(sorted(old_doc3)) == {}
    assert runtime.store.count() == 8 and points_held(runtime, v2) == 8
    served = _served(admin, keys.reader, "espresso grinder burrs")
    assert [r["snapshot_id"] for r in served] == [v2, v2]


def test_a_failed_publish_leaves_the_shared_points_serving_the_active_snapshot(admin, runtime, keys, monkeypatch):
    register(admin, "manual", "faq")
    v1 = publish(admin, "manual", _docs(), version="v1")["snapshot"]["id"]

    def broken(*args, **kwargs):
        raise RuntimeError("activation failed")

    monkeypatch.setattr(publishing, "_activate_new", broken)
    publish(admin, "manual", _docs({0: "changed"}), expect=500, version="v2")
    monkeypatch.undo()

    assert runtime.store.count() == 8  # the failed publish's two new points are gone
    assert [r["snapshot_id"] for r in _served(admin, keys.reader, "kettle descaling vinegar")] == [v1, v1]
    # The next publish shares the same points again.
    v3 = publish(admin, "manual", _docs({0: "changed"}), version="v3")["snapshot"]["id"]
    assert runtime.store.count() == 10 and points_held(runtime, v3) == 8
    assert [r["snapshot_id"] for r in _served(admin, keys.reader, "kettle descaling vinegar")] == [v3, v3]


def test_reconcile_makes_the_dead_marks_agree_with_the_active_snapshots(admin, runtime, keys, run):
    register(admin, "manual", "faq")
    v1 = publish(admin, "manual", _docs(), version="v1")["snapshot"]["id"]
    v2 = publish(admin, "manual", _docs({3: "now by air"}), version="v2")["snapshot"]["id"]
    kept = _rows(runtime, v2)["doc-1.md#0"][1]
    old = _rows(runtime, v1)["doc-3.md#0"][1]
    runtime.store.mark_dead([kept], 0)  # as if a step had gone wrong: dead for every retrieval
    runtime.store.mark_served([old])
    assert all("part one" not in r["text"] for r in _served(admin, keys.reader, "kettle descaling vinegar"))

    result = run("reconcile")
    assert result.counts["points_marked_served"] == 1 and result.counts["points_marked_dead"] == 1
    assert result.counts["orphans_deleted"] == 0
    marked = {p for p, payload in runtime.store.scroll_ids(None, 100)[0] if DEAD_FROM in payload}
    assert kept not in marked and old in marked
    assert any("part one" in r["text"] for r in _served(admin, keys.reader, "kettle descaling vinegar"))


def test_a_publish_whose_shared_points_are_gone_fails_and_says_what_to_do(admin, runtime, run):
    register(admin, "manual", "faq")
    v1 = publish(admin, "manual", _docs(), version="v1")["snapshot"]["id"]
    runtime.store.delete_ids([_rows(runtime, v1)["doc-0.md#0"][1]])

    response = admin.post("/v1/sources/manual/snapshots", json={"documents": _docs({3: "x"})})
    assert response.status_code == 503
    assert "reconcile" in response.json()["detail"]
    with session_scope(runtime.sessions) as session:
        assert session.get(Snapshot, v1).state == SnapshotState.ACTIVE
    run("reconcile")
    assert publish(admin, "manual", _docs({3: "x"}))["stats"]["chunks_reused"] == 7


def test_reconcile_indexes_a_lost_shared_point_again_from_the_text_stored_once(admin, runtime, keys, run):
    register(admin, "manual", "faq")
    publish(admin, "manual", _docs(), version="v1")
    v2 = publish(admin, "manual", _docs({3: "now by air"}), version="v2")["snapshot"]["id"]
    point = _rows(runtime, v2)["doc-1.md#0"][1]
    runtime.store.delete_ids([point])

    result = run("reconcile")
    assert result.counts["points_reindexed"] == 1
    served = _served(admin, keys.reader, "kettle descaling vinegar part one")
    assert served[0]["text"] == "kettle descaling vinegar part one of document 1."
    assert served[0]["snapshot_id"] == v2


def test_reconcile_leaves_alone_what_a_publish_changed_since_it_looked(admin, runtime, keys):
    """Reconcile reads the store, then the database, then repairs: a publish that activates in between must
    keep its points served and the ones it superseded dead."""
    register(admin, "manual", "faq", tags=["eu"])
    publish(admin, "manual", _docs(), version="v1")
    v2 = publish(admin, "manual", _docs({3: "now by air"}), version="v2")["snapshot"]["id"]
    point = _rows(runtime, v2)["doc-1.md#0"][1]
    sparse, dense = runtime.store.vectors([point])[point]
    payload = {**runtime.store.scroll_ids(None, 100)[0][0][1], "tags": ["elsewhere"], "document_id": "doc-1.md"}
    runtime.store.upsert([ChunkPoint(point, sparse, dense, payload)])  # a payload reconcile will want to repair
    published: dict = {}
    calls: list[int] = []

    def meanwhile() -> None:  # reconcile's keep-alive: once per page of its scroll, then once per snapshot
        calls.append(1)
        if len(calls) == 2:  # it has read the store and which snapshots are active; it repairs next
            published.update(publish(admin, "manual", _docs({3: "now by sea"}), version="v3"))

    reconcile(runtime, meanwhile)
    v3 = published["snapshot"]["id"]
    # Dead: doc-3 as v1 and v2 sent it; v3's own doc-3 is served.
    marked = {p for p, payload in runtime.store.scroll_ids(None, 100)[0] if DEAD_FROM in payload}
    assert len(marked) == 4 and point not in marked
    assert "by sea" in _served(admin, keys.reader, "shipping parcels courier part two")[0]["text"]
    served = _served(admin, keys.reader, "kettle descaling vinegar part one")
    assert served[0]["snapshot_id"] == v3 and "part one" in served[0]["text"]


def test_a_new_embedder_makes_every_document_a_changed_one(settings):
    body = PublishRequest(documents=[DocumentIn(id="a.md", text="Refunds within 30 days.")])
    same = sent_hashes(body, settings)
    assert sent_hashes(body, replace(settings)) == same
    assert sent_hashes(body, replace(settings, embedder="openai", embedder_model="small")) != same
    assert sent_hashes(body, replace(settings, embedder="openai", embedder_model="large")) != sent_hashes(
        body, replace(settings, embedder="openai", embedder_model="small"))


def test_the_superseded_points_are_dead_from_the_number_of_the_activation(admin, runtime):
    register(admin, "manual", "faq")
    v1 = publish(admin, "manual", _docs(), version="v1")["snapshot"]["id"]
    with session_scope(runtime.sessions) as session:
        before = serving.serving_seq(session)
    publish(admin, "manual", _docs({3: "now by air"}), version="v2")
    with session_scope(runtime.sessions) as session:
        after = serving.serving_seq(session)
    assert after == before + 1
    old_doc3 = {p for place, (_, p) in _rows(runtime, v1).items() if place.startswith("doc-3.md")}
    marks = {p: payload.get(DEAD_FROM) for p, payload in runtime.store.scroll_ids(None, 100)[0]}
    assert {p: m for p, m in marks.items() if m is not None} == dict.fromkeys(old_doc3, after)


def test_a_hit_the_active_snapshot_does_not_hold_is_not_served(admin, runtime, keys):
    """Between an activation's commit and its marks, searches find the superseded points too: the chunk rows
    keep them out of the answer."""
    register(admin, "manual", "faq")
    v1 = publish(admin, "manual", _docs(), version="v1")["snapshot"]["id"]
    v2 = publish(admin, "manual", _docs({3: "now by air"}), version="v2")["snapshot"]["id"]
    runtime.store.mark_served([p for place, (_, p) in _rows(runtime, v1).items() if place.startswith("doc-3.md")])

    served = _served(admin, keys.reader, "shipping parcels courier part two")
    assert served and {r["snapshot_id"] for r in served} == {v2}
    assert any("by air" in r["text"] for r in served)


def test_a_store_without_marks_is_marked_when_opened(admin, runtime, keys):
    register(admin, "manual", "faq")
    v1 = publish(admin, "manual", _docs(), version="v1")["snapshot"]["id"]
    publish(admin, "manual", _docs({3: "now by air"}), version="v2")
    old_doc3 = {p for place, (_, p) in _rows(runtime, v1).items() if place.startswith("doc-3.md")}
    everything = [p for p, _ in runtime.store.scroll_ids(None, 100)[0]]
    runtime.store.mark_served(everything)  # as a store written before points were marked

    assert serving.mark_store(runtime.sessions, runtime.store) == 2
    marked = {p for p, payload in runtime.store.scroll_ids(None, 100)[0] if DEAD_FROM in payload}
    assert marked == old_doc3 and not runtime.store.dead_index_missing()


def test_a_retired_source_s_points_are_marked_dead(admin, runtime, keys):
    register(admin, "manual", "faq")
    publish(admin, "manual", _docs(), version="v1")
    publish(admin, "manual", _docs({3: "now by air"}), version="v2")
    with session_scope(runtime.sessions) as session:
        before = serving.serving_seq(session)
    assert admin.delete("/v1/sources/manual").status_code == 200

    marks = {payload.get(DEAD_FROM) for _, payload in runtime.store.scroll_ids(None, 100)[0]}
    # v1's doc-3 since v2; everything else since the retire, which took the next number.
    assert runtime.store.count(source_id="manual", dead=False) == 0 and before + 1 in marks
    assert _served(admin, keys.reader, "espresso grinder burrs") == []
