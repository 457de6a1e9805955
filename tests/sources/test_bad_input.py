"""A content owner's mistakes are refused with a problem they can act on, and nothing is half-stored.

The support team's scripts send broken JSON, typos in field names, a document with nothing in it,
embeddings of the wrong size, a capture time in the future, a body far too big. Each gets an RFC 9457
problem that names what is wrong, and the sources and snapshots stay exactly as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pytest
from litestar.testing import TestClient

from freshness.app import create_app
from freshness.db import make_engine, make_session_factory, session_scope
from freshness.models import Snapshot
from tests.conftest import Api, publish, register

Body = dict | list | Callable[[datetime], dict]


@dataclass(frozen=True)
class Bad:
    name: str
    path: str
    body: Body | None = None
    raw: bytes | None = None
    method: str = "POST"
    status: int = 422
    names: tuple[str, ...] = ()  # words the problem's detail must contain, usually the field


def doc(**fields) -> dict:
    return {"id": "refunds.md", **fields}


def publishing(*documents: dict, **extra) -> dict:
    return {"documents": list(documents), **extra}


SOURCE = {"id": "returns-policy", "title": "Returns", "owner": "support", "source_class": "policy"}
SNAPSHOTS = "/v1/sources/refund-policy/snapshots"

CASES = [
    # -- the body is not JSON at all
    Bad("malformed json", "/v1/sources", raw=b'{"id": "returns-policy", "title": ', status=400, names=("JSON",)),
    Bad("malformed json on publish", SNAPSHOTS, raw=b'{"documents": [}', status=400, names=("JSON",)),
    Bad("empty body", "/v1/sources", raw=b"", status=400, names=("empty",)),
    Bad("not an object", "/v1/sources", body=["returns-policy"], names=("object",)),
    # -- the JSON has the wrong shape
    Bad("missing field", "/v1/sources", body={k: v for k, v in SOURCE.items() if k != "title"}, names=("title",)),
    Bad("missing document id", SNAPSHOTS, body=publishing({"text": "Refunds."}), names=("id", "documents[0]")),
    Bad("missing documents", SNAPSHOTS, body={"version": "v2"}, names=("documents",)),
    Bad("unknown field", "/v1/sources", body={**SOURCE, "colour": "red"}, names=("colour",)),
    Bad("unknown document field", SNAPSHOTS, body=publishing(doc(text="Refunds.", summary="x")), names=("summary",)),
    Bad("unknown patch field", "/v1/sources/refund-policy", method="PATCH", body={"owner": "catalog-team"},
        names=("owner",)),
    Bad("wrong type", "/v1/sources", body={**SOURCE, "tags": "refunds"}, names=("tags",)),
    Bad("vector of text", SNAPSHOTS, body=publishing(doc(chunks=["a"], vectors=[[1.0, "x", 0.0, 0.0]])),
        names=("documents[0].vectors[0][1]",)),
    # -- the values break a rule of the source
    Bad("bad slug id", "/v1/sources", body={**SOURCE, "id": "Returns Policy!"}, names=("id",)),
    Bad("slug too long", "/v1/sources", body={**SOURCE, "id": "r" * 129}, names=("id",)),
    Bad("empty title", "/v1/sources", body={**SOURCE, "title": ""}, names=("title",)),
    Bad("unknown source class", "/v1/sources", body={**SOURCE, "source_class": "blog"}, names=("source_class", "blog")),
    Bad("owner not bound to the key", "/v1/sources", body={**SOURCE, "owner": "catalog-team"}, status=403,
        names=("catalog-team",)),
    Bad("refresh interval in months", "/v1/sources", body={**SOURCE, "refresh_interval": "P1M"},
        names=("refresh_interval",)),
    Bad("refresh interval too short", "/v1/sources", body={**SOURCE, "refresh_interval": "1s"},
        names=("refresh_interval",)),
    Bad("uri of an unknown scheme", "/v1/sources", body={**SOURCE, "uri": "ftp://files.example/returns"},
        names=("uri",)),
    Bad("file uri without a path", "/v1/sources", body={**SOURCE, "uri": "file://"}, names=("uri", "names no")),
    Bad("patch to an empty title", "/v1/sources/refund-policy", method="PATCH", body={"title": ""},
        names=("title",)),
    Bad("patch refresh interval nonsense", "/v1/sources/refund-policy", method="PATCH",
        body={"refresh_interval": "soon"}, names=("refresh_interval",)),
    # -- the documents break a rule of the snapshot
    Bad("no documents", SNAPSHOTS, body=publishing(), names=("documents",)),
    Bad("document without text or chunks", SNAPSHOTS, body=publishing(doc(title="Refunds")),
        names=("documents[0]", "text", "chunks")),
    Bad("document with text and chunks", SNAPSHOTS, body=publishing(doc(text="Refunds.", chunks=["Refunds."])),
        names=("documents[0]", "text", "chunks")),
    Bad("blank text", SNAPSHOTS, body=publishing(doc(text="   \n ")), names=("documents[0].text",)),
    Bad("empty chunk list", SNAPSHOTS, body=publishing(doc(chunks=[])), names=("documents[0].chunks",)),
    Bad("blank chunk", SNAPSHOTS, body=publishing(doc(chunks=["Refunds.", " "])), names=("documents[0].chunks[1]",)),
    Bad("duplicate document ids", SNAPSHOTS,
        body=publishing(doc(text="Refunds within 30 days."), doc(text="Refunds within 60 days.")),
        names=("documents[1].id", "refunds.md")),
    # -- embeddings that do not fit
    Bad("vectors of two sizes in one document", SNAPSHOTS,
        body=publishing(doc(chunks=["a", "b"], vectors=[[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])),
        names=("documents[0].vectors[1]", "dimension 3", "expected 4")),
    Bad("vectors of two sizes across documents", SNAPSHOTS,
        body=publishing(doc(chunks=["a"], vectors=[[1.0, 0.0, 0.0, 0.0]]),
                        {"id": "returns.md", "chunks": ["b"], "vectors": [[0.0, 1.0]]}),
        names=("documents[1].vectors[0]", "dimension 2")),
    Bad("vectors of another size than the service stores", SNAPSHOTS,
        body=publishing(doc(chunks=["Refunds within 60 days."], vectors=[[1.0, 0.0, 0.0]])),
        names=("vectors", "dimension 3", "dimension 4")),
    Bad("fewer vectors than chunks", SNAPSHOTS,
        body=publishing(doc(chunks=["a", "b"], vectors=[[1.0, 0.0, 0.0, 0.0]])),
        names=("documents[0].vectors", "1 vectors for 2 chunks")),
    Bad("vectors with text", SNAPSHOTS, body=publishing(doc(text="Refunds.", vectors=[[1.0, 0.0, 0.0, 0.0]])),
        names=("documents[0].vectors",)),
    Bad("an all-zero vector", SNAPSHOTS, body=publishing(doc(chunks=["a"], vectors=[[0.0, 0.0, 0.0, 0.0]])),
        names=("documents[0].vectors[0]",)),
    # -- times that cannot be right
    Bad("captured_at in the future", SNAPSHOTS,
        body=lambda now: publishing(doc(text="Refunds."), captured_at=(now + timedelta(minutes=6)).isoformat()),
        names=("captured_at", "future")),
    Bad("valid_until before captured_at", SNAPSHOTS,
        body=lambda now: publishing(doc(text="Refunds."), captured_at=(now - timedelta(hours=1)).isoformat(),
                                    valid_until=(now - timedelta(hours=2)).isoformat()),
        names=("valid_until", "captured_at")),
    Bad("captured_at without a time zone", SNAPSHOTS,
        body=publishing(doc(text="Refunds."), captured_at="2024-06-01T12:00:00"), names=("captured_at",)),
    Bad("captured_at not a time", SNAPSHOTS, body=publishing(doc(text="Refunds."), captured_at="yesterday"),
        names=("captured_at",)),
    # -- text that is not text
    Bad("bytes that are not UTF-8", SNAPSHOTS,
        raw=b'{"documents": [{"id": "refunds.md", "text": "Refunds \xff within 30 days."}]}',
        names=("UTF-8",)),
    Bad("a lone surrogate escape", SNAPSHOTS,
        raw=b'{"documents": [{"id": "refunds.md", "text": "Refunds \\ud800 within 30 days."}]}', status=400),
    Bad("a lone low surrogate escape", "/v1/sources",
        raw=b'{"id": "returns-policy", "title": "Returns \\udc00", "owner": "support", "source_class": "policy"}',
        status=400),
    # -- list parameters
    Bad("limit zero", "/v1/sources?limit=0", method="GET", names=("limit",)),
    Bad("limit not a number", "/v1/sources?limit=ten", method="GET", names=("limit",)),
]


@pytest.fixture
def world(support, clock) -> None:
    """The support team's refund policy, published once with its own 4-dimensional embeddings."""
    register(support, "refund-policy", tags=["refunds"])
    publish(support, "refund-policy",
            [{"id": "refunds.md", "chunks": ["Refunds within 30 days."], "vectors": [[1.0, 0.0, 0.0, 0.0]]}])
    clock.advance(hours=1)


def stored(api: Api) -> list:
    """Everything a request could have changed: every source and its snapshot history, and the store."""
    sources = api.get("/v1/sources", params={"include_retired": "true"}).json()["items"]
    histories = [(s, api.get(f"/v1/sources/{s['id']}/snapshots").json()["items"]) for s in sources]
    return [histories, api.client.app.state.runtime.store.count()]


def assert_problem(response, status: int, names: tuple[str, ...] = ()) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("https://")
    assert problem["title"]
    for name in names:
        assert name in problem["detail"], f"{name!r} not named in {problem['detail']!r}"
    assert "$." not in problem["detail"], "fields are named as `documents[0].id`, never `$.documents[0].id`"
    return problem


def send(api: Api, case: Bad, now: datetime):
    if case.method == "GET":
        return api.get(case.path)
    body = case.body(now) if callable(case.body) else case.body
    sender = api.patch if case.method == "PATCH" else api.post
    if case.raw is not None:
        return sender(case.path, content=case.raw, headers={"Content-Type": "application/json"})
    return sender(case.path, json=body)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_request_gets_a_problem_and_changes_nothing(support, world, clock, case):
    before = stored(support)

    response = send(support, case, clock.now())

    assert_problem(response, case.status, case.names)
    assert stored(support) == before


FIELDS = {
    "missing field": "title",
    "missing document id": "documents[0].id",
    "unknown field": "colour",
    "unknown document field": "documents[0].summary",
    "wrong type": "tags",
    "vector of text": "documents[0].vectors[0][1]",
    "not an object": "body",
}


@pytest.mark.parametrize("name", FIELDS, ids=list(FIELDS))
def test_a_shape_error_names_its_field_in_the_form_of_every_other_error(support, world, clock, name):
    """`documents[0].summary`, as the service's own checks write it, not msgspec's `$.documents[0]`."""
    case = next(c for c in CASES if c.name == name)

    response = send(support, case, clock.now())

    assert response.json()["field"] == FIELDS[name]


def test_after_a_refused_publish_the_same_content_fixed_is_accepted(support, world):
    refused = support.post(SNAPSHOTS, json=publishing(doc(chunks=["a", "b"], vectors=[[1.0, 0.0, 0.0, 0.0]])))
    assert refused.status_code == 422

    fixed = publish(support, "refund-policy",
                    [doc(chunks=["a", "b"], vectors=[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])])

    assert fixed["changed"] is True
    assert fixed["snapshot"]["chunk_count"] == 2


# -- activating what cannot be activated ----------------------------------------------------------------


def set_state(settings, snapshot_id: str, state: str) -> None:
    """What the purge job, or a publish that failed, leaves in the database."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            session.get(Snapshot, snapshot_id).state = state
    finally:
        engine.dispose()


@pytest.fixture
def superseded(support, world) -> str:
    """A first edition of the refund policy, superseded by a second one."""
    old = support.get(SNAPSHOTS).json()["items"][0]["id"]
    publish(support, "refund-policy", [doc(chunks=["Refunds within 60 days."], vectors=[[0.0, 1.0, 0.0, 0.0]])])
    return old


@pytest.mark.parametrize("state", ["purged", "failed"])
def test_activating_a_purged_or_failed_snapshot_is_a_conflict(support, settings, superseded, state):
    set_state(settings, superseded, state)
    before = stored(support)

    response = support.post(f"/v1/snapshots/{superseded}/activate")

    assert_problem(response, 409, (superseded, state))
    assert stored(support) == before


def test_activating_a_snapshot_of_another_source_is_refused(support, superseded):
    register(support, "shipping-faq", source_class="faq")
    before = stored(support)

    response = support.post(f"/v1/snapshots/{superseded}/activate", json={"source_id": "shipping-faq"})

    problem = assert_problem(response, 422, ("refund-policy", "shipping-faq"))
    assert problem["field"] == "source_id"
    assert stored(support) == before


def test_an_activate_body_with_an_unknown_field_is_refused(support, superseded):
    before = stored(support)

    response = support.post(f"/v1/snapshots/{superseded}/activate", json={"snapshot": "latest"})

    assert_problem(response, 422, ("snapshot",))
    assert stored(support) == before


# -- bounds that depend on the settings -------------------------------------------------------------------


@pytest.fixture
def small_service(settings, clock, keys):
    """The service run with small bounds, as an operator may configure it."""

    def run(**bounds):
        app = create_app(replace(settings, **bounds), clock=clock)
        return TestClient(app=app)

    return run


def test_a_body_over_the_size_limit_is_a_413(small_service, keys):
    with small_service(max_body=1000) as client:
        support = Api(client, keys.support)
        register(support, "refund-policy")
        before = stored(support)

        response = support.post(SNAPSHOTS, json=publishing(doc(text="Refunds within 30 days. " * 60)))

        problem = assert_problem(response, 413, ("1000 bytes",))
        assert problem["type"].endswith("payload-too-large")
        assert stored(support) == before
        assert publish(support, "refund-policy", [doc(text="Refunds within 30 days.")])["changed"] is True


def test_a_body_over_the_size_limit_is_a_413_even_without_a_content_length(small_service, keys):
    with small_service(max_body=1000) as client:
        support = Api(client, keys.support)
        register(support, "refund-policy")
        before = stored(support)

        def chunks():
            yield b'{"documents": [{"id": "refunds.md", "text": "'
            for _ in range(20):
                yield b"Refunds within 30 days. " * 5
            yield b'"}]}'

        response = support.post(SNAPSHOTS, content=chunks(), headers={"Content-Type": "application/json"})

        assert_problem(response, 413)
        assert stored(support) == before


def test_too_many_documents_are_refused(small_service, keys):
    with small_service(max_documents=3) as client:
        support = Api(client, keys.support)
        register(support, "refund-policy")
        before = stored(support)
        documents = [{"id": f"doc-{n}.md", "text": f"Rule number {n}."} for n in range(4)]

        response = support.post(SNAPSHOTS, json=publishing(*documents))

        assert_problem(response, 422, ("documents", "4 documents", "at most 3"))
        assert stored(support) == before
        assert publish(support, "refund-policy", documents[:3])["snapshot"]["document_count"] == 3


def test_a_document_over_the_text_length_limit_is_refused(small_service, keys):
    with small_service(max_text_length=100) as client:
        support = Api(client, keys.support)
        register(support, "refund-policy")
        before = stored(support)

        response = support.post(SNAPSHOTS, json=publishing(doc(text="x" * 101)))

        assert_problem(response, 422, ("documents[0].text", "at most 100"))
        assert stored(support) == before


def test_a_vector_must_be_finite_and_not_all_zero():
    from freshness.sources.prepare import _usable_vector

    assert _usable_vector([0.5, -0.25, 0.0])
    assert _usable_vector([1e308, 1e308])  # finite values whose sum overflows
    assert not _usable_vector([float("nan"), 1.0])
    assert not _usable_vector([float("inf"), float("-inf")])
    assert not _usable_vector([1.0, float("inf")])
    assert not _usable_vector([0.0, 0.0])
