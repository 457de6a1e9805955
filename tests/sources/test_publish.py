"""A content owner publishes snapshots of a source and the service keeps only what changed.

The support team publishes its refund policy: as text the service cuts up, as its own chunks, or with
its own embeddings. Publishing the same content again only confirms it is current; publishing a
partly changed policy re-indexes only the changed part; a document left out is gone.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from freshness.db import make_engine, make_session_factory, session_scope
from freshness.ids import new_snapshot_id
from freshness.models import Chunk, Snapshot
from tests.conftest import Api, publish, register
from tests.points import points_held

HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


def prose(topic: str, sentences: int) -> str:
    """Text long enough to make several chunks at the test chunk size (200 characters)."""
    return " ".join(
        f"Sentence {n} about {topic} explains one more rule that customers and agents need to know."
        for n in range(sentences)
    )


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def history(api: Api, source_id: str) -> list[dict]:
    response = api.get(f"/v1/sources/{source_id}/snapshots")
    assert response.status_code == 200, response.text
    return response.json()["items"]


def snapshot(api: Api, snapshot_id: str) -> dict:
    response = api.get(f"/v1/snapshots/{snapshot_id}")
    assert response.status_code == 200, response.text
    return response.json()


def store_of(api: Api):
    return api.client.app.state.runtime.store


def chunk_ids(settings, snapshot_id: str) -> list[str]:
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            rows = session.scalars(
                select(Chunk.chunk_id)
                .where(Chunk.snapshot_id == snapshot_id)
                .order_by(Chunk.document_id, Chunk.position)
            )
            return list(rows)
    finally:
        engine.dispose()


def unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


@pytest.fixture
def refunds(support) -> Api:
    register(support, "refund-policy")
    return support


# -- first publish ---------------------------------------------------------------------------------


def test_a_text_publish_is_cut_into_chunks_indexed_and_active(refunds, clock):
    out = publish(
        refunds,
        "refund-policy",
        [
            {"id": "refunds.md", "title": "Refunds", "text": prose("refunds", 8)},
            {"id": "returns.md", "title": "Returns", "text": "Returns are free within 14 days."},
        ],
        version="2024-06-01",
    )

    assert out["changed"] is True
    snap = out["snapshot"]
    assert snap["state"] == "active"
    assert snap["source_id"] == "refund-policy"
    assert snap["version"] == "2024-06-01"
    assert HASH.match(snap["content_hash"])
    assert when(snap["captured_at"]) == clock.now()
    assert when(snap["verified_at"]) == clock.now()
    assert snap["document_count"] == 2
    assert snap["chunk_count"] > 2  # the long document makes several chunks
    stats = out["stats"]
    assert stats["documents"] == 2
    assert stats["chunks"] == snap["chunk_count"]
    assert stats["chunks_embedded"] == snap["chunk_count"]
    assert stats["chunks_reused"] == 0
    assert isinstance(stats["duration_ms"], int) and stats["duration_ms"] >= 0
    assert points_held(refunds.client.app.state.runtime, snap["id"]) == snap["chunk_count"]


def test_a_publisher_brings_its_own_chunks_and_they_are_kept_as_given(refunds):
    chunks = ["Refunds within 30 days.", "Store credit after 30 days.", "No refunds on gift cards."]

    out = publish(refunds, "refund-policy", [{"id": "refunds.md", "chunks": chunks}])

    assert out["snapshot"]["chunk_count"] == 3
    assert out["stats"]["chunks"] == 3
    detail = snapshot(refunds, out["snapshot"]["id"])
    assert detail["documents"][0]["chunk_count"] == 3


def test_a_publisher_brings_its_own_embeddings_and_the_store_holds_them(refunds, settings):
    vectors = [[1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 1.0]]

    out = publish(
        refunds, "refund-policy",
        [{"id": "refunds.md", "chunks": ["Refunds within 30 days.", "No refunds on gift cards."], "vectors": vectors}],
    )

    assert out["stats"]["chunks"] == 2
    ids = chunk_ids(settings, out["snapshot"]["id"])
    stored = store_of(refunds).vectors(ids)
    for chunk_id, given in zip(ids, vectors, strict=True):
        dense = stored[chunk_id][1]
        assert dense is not None
        assert dense == pytest.approx(unit(given), abs=1e-5)


def test_the_snapshot_detail_lists_its_documents_with_hashes_and_chunk_counts(refunds):
    out = publish(
        refunds,
        "refund-policy",
        [
            {"id": "returns.md", "title": "Returns", "uri": "https://intranet.example/returns",
             "metadata": {"lang": "en"}, "text": "Returns are free within 14 days."},
            {"id": "refunds.md", "title": "Refunds", "chunks": ["Refunds within 30 days.", "Store credit after."]},
        ],
    )

    detail = snapshot(refunds, out["snapshot"]["id"])

    assert detail["id"] == out["snapshot"]["id"]
    assert detail["state"] == "active"
    assert detail["document_count"] == 2
    by_id = {d["id"]: d for d in detail["documents"]}
    assert set(by_id) == {"refunds.md", "returns.md"}
    assert by_id["refunds.md"]["title"] == "Refunds"
    assert by_id["refunds.md"]["chunk_count"] == 2
    assert by_id["returns.md"]["title"] == "Returns"
    assert by_id["returns.md"]["uri"] == "https://intranet.example/returns"
    assert by_id["returns.md"]["metadata"] == {"lang": "en"}
    assert by_id["returns.md"]["chunk_count"] == 1
    assert all(HASH.match(d["content_hash"]) for d in detail["documents"])
    assert by_id["refunds.md"]["content_hash"] != by_id["returns.md"]["content_hash"]
    assert sum(d["chunk_count"] for d in detail["documents"]) == detail["chunk_count"]


def test_an_unknown_snapshot_is_a_404_problem(refunds):
    response = refunds.get("/v1/snapshots/snap_01ARZ3NDEKTSV4RRFFQ69G5FAV")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


# -- publishing the same content again --------------------------------------------------------------


def test_an_unchanged_republish_only_confirms_the_content_is_current(refunds, clock):
    documents = [{"id": "refunds.md", "text": prose("refunds", 6)}]
    first = publish(refunds, "refund-policy", documents)
    captured = clock.now()
    clock.advance(hours=3)

    again = publish(refunds, "refund-policy", documents, expect=200)

    assert again["changed"] is False
    assert again["snapshot"]["id"] == first["snapshot"]["id"]
    assert when(again["snapshot"]["verified_at"]) == clock.now()
    assert when(again["snapshot"]["captured_at"]) == captured
    assert again["stats"]["chunks_embedded"] == 0
    assert again["stats"]["chunks_reused"] == 0
    assert again["stats"]["documents"] == 1
    assert again["stats"]["chunks"] == first["snapshot"]["chunk_count"]
    assert [s["id"] for s in history(refunds, "refund-policy")] == [first["snapshot"]["id"]]
    shown = refunds.get("/v1/sources/refund-policy").json()
    assert when(shown["active_snapshot"]["verified_at"]) == clock.now()
    assert shown["freshness"]["age_seconds"] == 0


def test_the_same_documents_in_another_order_are_unchanged(refunds):
    a = {"id": "a.md", "text": "Refunds within 30 days."}
    b = {"id": "b.md", "text": "Returns are free within 14 days."}
    first = publish(refunds, "refund-policy", [a, b])

    again = publish(refunds, "refund-policy", [b, a], expect=200)

    assert again["changed"] is False
    assert again["snapshot"]["content_hash"] == first["snapshot"]["content_hash"]


def test_an_unchanged_republish_captured_earlier_never_lowers_verified_at(refunds, clock):
    documents = [{"id": "refunds.md", "text": "Refunds within 30 days."}]
    publish(refunds, "refund-policy", documents)
    verified = clock.now()
    clock.advance(hours=1)

    again = publish(refunds, "refund-policy", documents, expect=200,
                    captured_at=(verified - timedelta(days=1)).isoformat())

    assert when(again["snapshot"]["verified_at"]) == verified


def test_an_unchanged_republish_with_captured_at_raises_verified_at_to_it(refunds, clock):
    documents = [{"id": "refunds.md", "text": "Refunds within 30 days."}]
    publish(refunds, "refund-policy", documents)
    clock.advance(hours=5)
    checked = clock.now() - timedelta(hours=2)

    again = publish(refunds, "refund-policy", documents, expect=200, captured_at=checked.isoformat())

    assert when(again["snapshot"]["verified_at"]) == checked


# -- publishing changed content ----------------------------------------------------------------------


def test_a_partly_changed_publish_reuses_the_unchanged_chunks(refunds, clock):
    publish(
        refunds,
        "refund-policy",
        [
            {"id": "refunds.md", "text": prose("refunds", 8)},
            {"id": "returns.md", "text": prose("returns", 6)},
            {"id": "warranty.md", "text": prose("warranty", 4)},
        ],
    )
    clock.advance(hours=1)

    out = publish(
        refunds,
        "refund-policy",
        [
            {"id": "refunds.md", "text": prose("refunds", 8)},
            {"id": "returns.md", "text": prose("returns", 6)},
            {"id": "warranty.md", "text": prose("guarantees", 4)},
        ],
    )

    assert out["changed"] is True
    detail = snapshot(refunds, out["snapshot"]["id"])
    changed_chunks = next(d["chunk_count"] for d in detail["documents"] if d["id"] == "warranty.md")
    stats = out["stats"]
    assert stats["chunks_reused"] > 0
    assert stats["chunks_embedded"] == changed_chunks
    assert stats["chunks_reused"] + stats["chunks_embedded"] == stats["chunks"] == out["snapshot"]["chunk_count"]
    assert points_held(refunds.client.app.state.runtime, out["snapshot"]["id"]) == out["snapshot"]["chunk_count"]


def test_a_changed_publish_supersedes_the_previous_snapshot(refunds, clock):
    first = publish(refunds, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days."}])
    clock.advance(hours=1)

    second = publish(refunds, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 60 days."}])

    assert second["snapshot"]["id"] != first["snapshot"]["id"]
    old = snapshot(refunds, first["snapshot"]["id"])
    assert old["state"] == "superseded"
    assert when(old["superseded_at"]) == clock.now()
    assert refunds.get("/v1/sources/refund-policy").json()["active_snapshot_id"] == second["snapshot"]["id"]


def test_a_document_left_out_of_the_next_snapshot_is_gone(refunds):
    publish(
        refunds,
        "refund-policy",
        [{"id": "refunds.md", "text": "Refunds within 30 days."},
         {"id": "old-promo.md", "text": "Double refunds in May."}],
    )

    out = publish(refunds, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days."}])

    assert out["changed"] is True
    detail = snapshot(refunds, out["snapshot"]["id"])
    assert [d["id"] for d in detail["documents"]] == ["refunds.md"]
    assert detail["document_count"] == 1
    assert out["stats"]["chunks_embedded"] == 0
    assert out["stats"]["chunks_reused"] == 1


def test_a_changed_title_alone_is_a_new_snapshot_that_reuses_every_vector(refunds):
    first = publish(refunds, "refund-policy", [{"id": "refunds.md", "title": "Refunds", "text": prose("refunds", 5)}])

    out = publish(refunds, "refund-policy",
                  [{"id": "refunds.md", "title": "Refund rules", "text": prose("refunds", 5)}])

    assert out["changed"] is True
    assert out["snapshot"]["content_hash"] != first["snapshot"]["content_hash"]
    assert out["stats"]["chunks_embedded"] == 0
    assert out["stats"]["chunks_reused"] == first["snapshot"]["chunk_count"]


def test_going_back_to_older_content_is_a_new_snapshot_that_reuses_its_vectors(refunds, clock):
    v1 = [{"id": "refunds.md", "text": prose("refunds", 6)}]
    v2 = [{"id": "refunds.md", "text": prose("store credit", 6)}]
    first = publish(refunds, "refund-policy", v1, version="v1")
    clock.advance(hours=1)
    publish(refunds, "refund-policy", v2, version="v2")
    clock.advance(hours=1)

    third = publish(refunds, "refund-policy", v1, version="v1-again")

    assert third["changed"] is True
    assert third["snapshot"]["id"] != first["snapshot"]["id"]
    assert third["snapshot"]["content_hash"] == first["snapshot"]["content_hash"]
    assert third["snapshot"]["state"] == "active"
    assert when(third["snapshot"]["captured_at"]) == clock.now()
    assert third["stats"]["chunks_embedded"] == 0
    assert third["stats"]["chunks_reused"] == first["snapshot"]["chunk_count"]
    assert [s["version"] for s in history(refunds, "refund-policy")] == ["v1-again", "v2", "v1"]
    assert snapshot(refunds, first["snapshot"]["id"])["state"] == "superseded"


def test_older_content_with_own_embeddings_gets_the_same_vectors_back(refunds, settings):
    v1 = [{"id": "refunds.md", "chunks": ["Refunds within 30 days."], "vectors": [[0.0, 1.0, 0.0]]}]
    v2 = [{"id": "refunds.md", "chunks": ["Refunds within 60 days."], "vectors": [[1.0, 0.0, 0.0]]}]
    publish(refunds, "refund-policy", v1)
    publish(refunds, "refund-policy", v2)

    third = publish(refunds, "refund-policy", [{"id": "refunds.md", "chunks": ["Refunds within 30 days."]}])

    [chunk_id] = chunk_ids(settings, third["snapshot"]["id"])
    assert third["stats"]["chunks_reused"] == 1
    assert store_of(refunds).vectors([chunk_id])[chunk_id][1] == pytest.approx([0.0, 1.0, 0.0], abs=1e-5)


def test_a_new_valid_until_alone_is_a_new_snapshot(refunds, clock):
    documents = [{"id": "refunds.md", "text": prose("refunds", 4)}]
    first = publish(refunds, "refund-policy", documents)
    until = clock.now() + timedelta(days=30)

    out = publish(refunds, "refund-policy", documents, valid_until=until.isoformat())

    assert out["changed"] is True
    assert out["snapshot"]["id"] != first["snapshot"]["id"]
    assert when(out["snapshot"]["valid_until"]) == until
    assert out["snapshot"]["content_hash"] == first["snapshot"]["content_hash"]
    assert out["stats"]["chunks_embedded"] == 0
    again = publish(refunds, "refund-policy", documents, expect=200, valid_until=until.isoformat())
    assert again["snapshot"]["id"] == out["snapshot"]["id"]


def test_history_lists_snapshots_newest_first_and_pages(refunds, clock):
    published = []
    for n in range(5):
        published.append(publish(refunds, "refund-policy", [{"id": "a.md", "text": f"Edition {n} of the policy."}],
                                 version=f"v{n}")["snapshot"]["id"])
        clock.advance(minutes=5)

    items = history(refunds, "refund-policy")
    assert [s["id"] for s in items] == list(reversed(published))
    assert [s["state"] for s in items] == ["active"] + ["superseded"] * 4

    path = "/v1/sources/refund-policy/snapshots"
    first = refunds.get(path, params={"limit": 2}).json()
    second = refunds.get(path, params={"limit": 2, "cursor": first["next_cursor"]}).json()
    third = refunds.get(path, params={"limit": 2, "cursor": second["next_cursor"]}).json()
    walked = [s["version"] for page in (first, second, third) for s in page["items"]]
    assert walked == ["v4", "v3", "v2", "v1", "v0"]
    assert third["next_cursor"] is None


def test_history_of_an_unknown_source_is_a_404(refunds):
    assert refunds.get("/v1/sources/nope/snapshots").status_code == 404


# -- one publish at a time ---------------------------------------------------------------------------


def start_other_publish(settings, source_id: str, now: datetime) -> str:
    """What the database holds while another replica is part-way through a publish of this source."""
    engine = make_engine(settings.resolved_database_url)
    snapshot_id = new_snapshot_id()
    try:
        with session_scope(make_session_factory(engine)) as session:
            session.add(
                Snapshot(id=snapshot_id, source_id=source_id, state="ingesting", content_hash="sha256:" + "0" * 64,
                         captured_at=now, verified_at=now, created_at=now, heartbeat_at=now, document_count=1,
                         chunk_count=1, has_dense=False, stats={})
            )
    finally:
        engine.dispose()
    return snapshot_id


def count_rows(settings, model) -> int:
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return session.scalar(select(func.count()).select_from(model))
    finally:
        engine.dispose()


def end_other_publish(settings, snapshot_id: str) -> None:
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            session.get(Snapshot, snapshot_id).state = "failed"
    finally:
        engine.dispose()


def test_a_second_publish_while_one_is_in_progress_is_refused_and_changes_nothing(refunds, settings, clock):
    first = publish(refunds, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 30 days."}])
    other = start_other_publish(settings, "refund-policy", clock.now())
    chunks_before = count_rows(settings, Chunk)
    points_before = store_of(refunds).count()

    response = refunds.post("/v1/sources/refund-policy/snapshots",
                            json={"documents": [{"id": "refunds.md", "text": "Refunds within 60 days."}]})

    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "in progress" in response.json()["detail"]
    assert [(s["id"], s["state"]) for s in history(refunds, "refund-policy")] == [
        (other, "ingesting"), (first["snapshot"]["id"], "active")
    ]
    assert refunds.get("/v1/sources/refund-policy").json()["active_snapshot_id"] == first["snapshot"]["id"]
    assert count_rows(settings, Chunk) == chunks_before
    assert store_of(refunds).count() == points_before

    end_other_publish(settings, other)
    retry = publish(refunds, "refund-policy", [{"id": "refunds.md", "text": "Refunds within 60 days."}])
    assert retry["changed"] is True


def test_a_refused_publish_with_embeddings_does_not_fix_the_dimension(refunds, support, settings, clock):
    four_dims = {"documents": [{"id": "a.md", "chunks": ["Refunds."], "vectors": [[1.0, 0.0, 0.0, 0.0]]}]}
    other = start_other_publish(settings, "refund-policy", clock.now())
    refused = refunds.post("/v1/sources/refund-policy/snapshots", json=four_dims)
    assert refused.status_code == 409
    end_other_publish(settings, other)
    register(support, "shipping-faq", source_class="faq")

    out = publish(support, "shipping-faq",
                  [{"id": "a.md", "chunks": ["Ships in 2 days."], "vectors": [[0.0, 1.0, 0.0]]}])

    assert out["changed"] is True
    mismatched = refunds.post("/v1/sources/refund-policy/snapshots", json=four_dims)
    assert mismatched.status_code == 422
    assert "dimension 4" in mismatched.json()["detail"]
