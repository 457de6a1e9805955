"""On PostgreSQL a retrieval's latency is mostly waits for the server, one per round trip. An answered and
recorded retrieval makes six: the active set's token and the chunk rows (read in autocommit, no transaction
to begin or end), then the record's transaction: BEGIN, the sources' share locks with the chain head's lock,
the record with its chunk rows and the head's move, COMMIT. No liveness ping at checkout for a connection
back in the pool a moment ago (freshness.pgliveness)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from psycopg import pq
from sqlalchemy import event, select

from freshness import pgliveness
from freshness.auth.keys import Principal, Role
from freshness.models import Retrieval
from freshness.retrieval.schemas import RetrieveRequest
from freshness.retrieval.service import retrieve
from tests.conftest import PG_URL, publish, register

pytestmark = pytest.mark.skipif(not PG_URL, reason="round trips to a PostgreSQL server")

READER = Principal(key_id="k-reader", name="assistant", role=Role.READER, owner=None)
ASK = RetrieveRequest(query="refunds accepted days", task_class="general_question", top_k=3)


def _traced(engine, out: int) -> list:  # noqa: ANN001
    """Trace every connection the engine's pool makes from now on (libpq's protocol trace, into file `out`)."""
    traced = []

    @event.listens_for(engine.pool, "connect")
    def trace(dbapi_conn, _record) -> None:  # noqa: ANN001
        dbapi_conn.pgconn.trace(out)
        dbapi_conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        traced.append(dbapi_conn)

    return traced


def _round_trips(traced: list, path: Path) -> list[str]:
    """What the client sent that waits for the server's answer: a simple query, or a Sync after the
    extended protocol's messages."""
    for conn in traced:
        conn.pgconn.untrace()  # flushes what libpq buffered
    sent = [line.split("\t") for line in path.read_text().splitlines() if line.startswith("F\t")]
    return [f"{fields[2]} {fields[3][:40] if len(fields) > 3 else ''}" for fields in sent
            if fields[2] in ("Query", "Sync")]


@pytest.fixture
def traced_service(admin, client, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    """A published source, and the service's engine with every connection it makes from now on traced:
    (runtime, traced connections, trace file). No ping for a connection idle a while: on a busy machine the
    time between two retrievals must not add one."""
    monkeypatch.setattr(pgliveness, "QUIET_FOR", 3600.0)
    register(admin, "refund-policy")
    publish(admin, "refund-policy", [{"id": "refunds.md", "text": "Refunds are accepted within 30 days."}])
    runtime = client.app.state.runtime
    runtime.engine.dispose()
    path = tmp_path / "libpq.trace"
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        yield runtime, _traced(runtime.engine, out), path
    finally:
        os.close(out)


def test_an_audited_retrieval_waits_for_six_round_trips(traced_service):
    runtime, traced, path = traced_service
    assert retrieve(runtime, READER, ASK, None).results, "the first retrieval should serve the source"
    path.write_text("")  # the connections are made and pooled: count the next retrieval alone

    answer = retrieve(runtime, READER, ASK, None)

    trips = _round_trips(traced, path)
    assert answer.results
    assert len(trips) == 6, trips
    with runtime.sessions() as session:  # the record is there: nothing was left out to save a round trip
        assert session.scalar(select(Retrieval.seq).where(Retrieval.request_id == answer.request_id)) == 2


def test_over_http_the_key_lookup_adds_one_round_trip(admin, keys, traced_service):
    _, traced, path = traced_service
    reader = admin.as_key(keys.reader)
    body = {"query": "refunds accepted days", "task_class": "general_question", "top_k": 3}
    assert reader.post("/v1/retrieve", json=body).json()["results"], "the first retrieval should serve the source"
    path.write_text("")

    response = reader.post("/v1/retrieve", json=body)

    trips = _round_trips(traced, path)
    assert response.status_code == 200 and response.json()["results"]
    assert len(trips) == 7, trips  # the key's read, in autocommit too, then the six of the retrieval
