"""A large publish is prepared in a worker process, and the owner sees no difference.

While the support team publishes a large knowledge base, the service's own process keeps answering
retrievals: the documents are cut, checked, hashed and embedded with BM25 in a worker process. What
the team gets back is what it got before there was a worker: the same snapshot, the same chunks, the
same vectors, the same error for a bad document. When there is no worker to be had, the publish is
prepared in the service's process, as before.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import event, select

import freshness
from freshness.app import create_app
from freshness.db import make_engine, make_session_factory, session_scope
from freshness.models import Chunk
from freshness.sources import publish as publishing
from freshness.sources import worker
from freshness.sources.worker import workers
from tests.conftest import Api, publish, register


def documents(prefix: str, count: int = 4) -> list[dict]:
    texts = [
        " ".join(f"Rule {n} of section {d} says how refunds for {prefix} orders are handled." for n in range(12))
        for d in range(count)
    ]
    docs: list[dict] = [{"id": f"doc-{d}.md", "title": f"Section {d}", "text": t} for d, t in enumerate(texts)]
    docs.append({"id": "own-chunks.md", "chunks": ["Gift cards are not refunded.", "Store credit never expires."],
                 "vectors": [[1.0, 0.25, 0.5], [0.5, 1.0, 0.125]], "metadata": {"lang": "en", "tags": ["a", "b"]}})
    return docs


def stored(settings, api: Api, snapshot_id: str) -> list[tuple]:
    """Each chunk of the snapshot: document, position, text, hash, and its point's sparse and dense vectors."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            rows = session.execute(
                select(Chunk.document_id, Chunk.position, Chunk.text, Chunk.content_hash, Chunk.point_id)
                .where(Chunk.snapshot_id == snapshot_id)
                .order_by(Chunk.document_id, Chunk.position)
            ).all()
    finally:
        engine.dispose()
    vectors = api.client.app.state.runtime.store.vectors([row.point_id for row in rows])
    return [(row.document_id, row.position, row.text, row.content_hash,
             vectors[row.point_id][0].indices, vectors[row.point_id][0].values, vectors[row.point_id][1])
            for row in rows]


@pytest.fixture(autouse=True)
def no_worker_yet():
    """Each test starts without a worker process, whatever ran before it."""
    workers.close()
    yield
    workers.close()


@pytest.fixture
def every_publish_in_the_worker(monkeypatch):
    monkeypatch.setattr(workers, "min_bytes", 0)


def test_a_publish_prepared_in_the_worker_is_the_one_prepared_in_the_service(admin, settings, monkeypatch):
    register(admin, "inline-kb")
    register(admin, "worker-kb")
    monkeypatch.setattr(workers, "min_bytes", 10**12)
    here = publish(admin, "inline-kb", documents("kb"), version="v1")
    assert not workers.started

    monkeypatch.setattr(workers, "min_bytes", 0)
    there = publish(admin, "worker-kb", documents("kb"), version="v1")

    assert workers.started
    assert there["snapshot"]["content_hash"] == here["snapshot"]["content_hash"]
    assert there["stats"]["chunks"] == here["stats"]["chunks"] == there["stats"]["chunks_embedded"]
    assert stored(settings, admin, there["snapshot"]["id"]) == stored(settings, admin, here["snapshot"]["id"])
    answer = admin.post("/v1/retrieve", json={"query": "refunds for kb orders", "task_class": "general_question",
                                              "filters": {"source_ids": ["worker-kb"]}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"]


def test_a_re_publish_in_the_worker_keeps_the_unchanged_documents(admin, every_publish_in_the_worker):
    register(admin, "kb")
    publish(admin, "kb", documents("kb"))
    changed = documents("kb")
    changed[0]["text"] += " One more rule."

    out = publish(admin, "kb", changed)

    assert out["changed"] is True
    # Only the changed document's chunks are embedded; the others' points are shared.
    assert 0 < out["stats"]["chunks_embedded"] < out["stats"]["chunks"]
    assert out["stats"]["chunks_embedded"] + out["stats"]["chunks_reused"] == out["stats"]["chunks"]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"id": "empty.md", "text": "   "}, "documents[1].text"),
        ({"id": "zero.md", "chunks": ["one"], "vectors": [[0.0, 0.0]]}, "documents[1].vectors[0]"),
        ({"id": "doc-0.md", "text": "twice"}, "documents[1].id"),
    ],
)
def test_bad_input_found_in_the_worker_is_the_same_problem(admin, monkeypatch, bad, field):
    register(admin, "kb")
    body = {"documents": [documents("kb", 1)[0], bad]}

    monkeypatch.setattr(workers, "min_bytes", 10**12)
    here = admin.post("/v1/sources/kb/snapshots", json=body)
    monkeypatch.setattr(workers, "min_bytes", 0)
    there = admin.post("/v1/sources/kb/snapshots", json=body)

    assert here.status_code == 422, here.text
    assert workers.started
    assert there.status_code == 422
    assert there.headers["content-type"].startswith("application/problem+json")
    assert there.json() == here.json()
    assert there.json()["field"] == field


class NoProcesses:
    """A start method that cannot start a process (too many processes, no /dev/shm, a seccomp profile)."""

    def __init__(self, real) -> None:
        self.real = real

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def Process(self, *args, **kwargs):  # noqa: N802 - the multiprocessing context's name
        raise OSError("no processes left")


def no_context():
    raise OSError("no processes left")


@pytest.mark.parametrize("fails", ["when the pool is made", "when its process starts"])
def test_without_a_worker_process_a_publish_is_prepared_in_the_service(admin, monkeypatch, fails,
                                                                      every_publish_in_the_worker):
    real = worker._context
    monkeypatch.setattr(worker, "_context", no_context if fails == "when the pool is made" else
                        lambda: NoProcesses(real()))
    monkeypatch.setattr(workers, "_unavailable", False)
    register(admin, "kb")

    out = publish(admin, "kb", documents("kb"))
    again = publish(admin, "kb", documents("kb-2"))

    assert not workers.started
    assert out["snapshot"]["state"] == again["snapshot"]["state"] == "active"
    assert out["stats"]["chunks_embedded"] == out["stats"]["chunks"]


def test_a_worker_that_died_is_replaced(admin, every_publish_in_the_worker):
    register(admin, "kb")
    publish(admin, "kb", documents("kb"))
    for pid in list(workers._pool._processes):  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)

    out = publish(admin, "kb", documents("kb-2"))

    assert out["snapshot"]["state"] == "active"
    assert out["stats"]["chunks_embedded"] > 0


def test_the_worker_stops_with_the_service(settings, clock, keys, every_publish_in_the_worker):
    with TestClient(app=create_app(settings, clock=clock)) as client:
        api = Api(client, keys.admin)
        register(api, "kb")
        publish(api, "kb", documents("kb"))
        pool = workers._pool
        assert pool is not None

    assert not workers.started
    assert all(not process.is_alive() for process in (pool._processes or {}).values())


def test_a_large_snapshot_holds_the_write_lock_for_a_few_hundred_chunk_rows_at_a_time(admin, monkeypatch):
    register(admin, "kb")
    engine = admin.client.app.state.runtime.engine
    written: list[int] = []  # chunk rows inserted per transaction
    current = [0]

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CHUNKS"):
            current[0] += len(parameters) if executemany else 1

    def commit(conn) -> None:
        written.append(current[0])
        current[0] = 0

    event.listen(engine, "before_cursor_execute", count)
    event.listen(engine, "commit", commit)
    try:
        out = publish(admin, "kb", documents("kb", 400))
    finally:
        event.remove(engine, "before_cursor_execute", count)
        event.remove(engine, "commit", commit)

    # More rows than the reservation holds: they follow in transactions of their own.
    assert sum(written) == out["stats"]["chunks"] > publishing.RESERVATION_ROWS
    assert max(written) <= publishing.CHUNK_ROWS_PER_TRANSACTION == 250


SERVICE_THAT_DIES = """
import datetime as dt
import os

from freshness.settings import Settings
from freshness.sources.prepare import encode_documents, sent_hashes
from freshness.sources.schemas import DocumentIn, PublishRequest
from freshness.sources.worker import PrepareWorkers

if __name__ == "__main__":
    workers = PrepareWorkers(min_bytes=0)
    body = PublishRequest(documents=[DocumentIn(id="a.md", text="Refunds within 30 days.")])
    settings = Settings()
    encoded = encode_documents(body)
    workers.prepare(body, settings, dt.datetime.now(dt.timezone.utc), sent_hashes(body, settings, encoded), encoded)
    print(*workers._pool._processes, flush=True)
    os._exit(0)  # as a SIGTERM or a crash ends the service: nothing is closed
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_worker_ends_with_a_service_process_that_ended_without_closing_it(tmp_path):
    script = tmp_path / "service.py"
    script.write_text(SERVICE_THAT_DIES)
    env = {**os.environ, "PYTHONPATH": str(Path(freshness.__file__).resolve().parent.parent)}

    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env,
                         cwd=tmp_path)

    assert ran.returncode == 0, ran.stderr
    pid = int(ran.stdout.split()[-1])
    deadline = time.monotonic() + 60  # a bound for a stuck test, not a figure under test
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)
