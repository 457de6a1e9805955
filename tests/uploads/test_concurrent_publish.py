"""One publish of a source at a time: a commit while a publish of the same source runs is a 409 and
publishes nothing; the upload stays open, and commits once the publish has ended. A second commit of
an upload whose commit is running is a 409 too."""

from __future__ import annotations

import threading

from freshness.auth.keys import Principal, Role
from freshness.sources.publish import publish
from freshness.sources.schemas import DocumentIn, PublishRequest
from freshness.uploads import service
from tests.uploads.conftest import docs, stored

ADMIN = Principal(key_id="test", name="test admin", role=Role.ADMIN, owner=None)


class HeldPublish:
    """A publish of `source_id` that stops while indexing until released."""

    def __init__(self, runtime, source_id: str, body: PublishRequest) -> None:
        self.indexing = threading.Event()
        self.release = threading.Event()
        self.errors: list[BaseException] = []

        def progress(done: int, total: int) -> None:
            self.indexing.set()
            assert self.release.wait(30), "the test never released the publish"

        def run() -> None:
            try:
                self.result = publish(runtime, ADMIN, source_id, body, progress=progress)
            except BaseException as exc:  # reported by finish()
                self.errors.append(exc)
                self.indexing.set()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert self.indexing.wait(30) and not self.errors, self.errors

    def finish(self) -> None:
        self.release.set()
        self.thread.join(30)
        assert not self.errors, self.errors


def body(first: int, count: int) -> PublishRequest:
    return PublishRequest(documents=[DocumentIn(**d) for d in docs(first, count, topic="exchanges")])


def test_a_commit_while_a_publish_runs_is_a_409(admin, uploads, refund_policy, runtime):
    upload_id = uploads.open(refund_policy, version="from-upload")["upload_id"]
    uploads.add(upload_id, docs(0, 3))
    held = HeldPublish(runtime, refund_policy, body(0, 4))
    try:
        response = uploads.api.post(f"/v1/uploads/{upload_id}/commit")
        assert response.status_code == 409, response.text
        assert "already in progress" in response.json()["detail"]
    finally:
        held.finish()
    assert held.result.changed is True
    active = admin.get(f"/v1/sources/{refund_policy}").json()["active_snapshot"]
    assert active["id"] == held.result.snapshot.id
    assert stored(runtime, upload_id) == (1, 3)  # open again, as it was

    result = uploads.commit(upload_id)
    assert result["snapshot"]["version"] == "from-upload"


def test_a_second_commit_of_the_same_upload_is_a_409_while_the_first_runs(uploads, refund_policy, runtime,
                                                                          monkeypatch):
    upload_id = uploads.open(refund_policy)["upload_id"]
    uploads.add(upload_id, docs(0, 3))
    release, indexing = threading.Event(), threading.Event()
    real_publish = service.publish
    outcome: list = []

    def held_publish(rt, principal, source_id, request, progress=None):
        def wait(done: int, total: int) -> None:
            indexing.set()
            release.wait(30)

        return real_publish(rt, principal, source_id, request, progress=wait)

    monkeypatch.setattr(service, "publish", held_publish)  # the commit reaches the publish use case by this name
    thread = threading.Thread(target=lambda: outcome.append(service.commit(runtime, ADMIN, upload_id)))
    thread.start()
    try:
        assert indexing.wait(30)
        second = uploads.api.post(f"/v1/uploads/{upload_id}/commit")
        assert second.status_code == 409, second.text
        assert "being committed" in second.json()["detail"]
        assert uploads.api.delete(f"/v1/uploads/{upload_id}").status_code == 409
    finally:
        release.set()
        thread.join(30)
    assert outcome and outcome[0].changed is True
    assert stored(runtime) == (0, 0)


def test_batches_sent_at_the_same_time_all_arrive_once(uploads, refund_policy, runtime):
    """Replicas may take batches of one upload at the same moment: each lands whole, none twice."""
    from freshness.uploads.schemas import UploadBatch

    upload_id = uploads.open(refund_policy)["upload_id"]
    errors: list[BaseException] = []

    def send(first: int) -> None:
        batch = UploadBatch(documents=[DocumentIn(**d) for d in docs(first, 5)])
        try:
            service.add_documents(runtime, ADMIN, upload_id, batch)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(first,)) for first in range(0, 20, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert stored(runtime, upload_id) == (1, 20)
    result = uploads.commit(upload_id)
    assert result["stats"]["documents"] == 20


def test_checking_a_batch_leaves_the_database_free_for_other_writers(uploads, refund_policy, runtime, monkeypatch):
    """A large batch is cut and checked before its transaction: meanwhile a retrieval's audit record (here
    any other write) still gets SQLite's one writer turn."""
    from freshness.auth.keys import create_key
    from freshness.db import session_scope

    upload_id = uploads.open(refund_policy)["upload_id"]
    real_prepare = service.prepare
    wrote = threading.Event()

    def prepare_while_another_writes(*args, **kwargs):
        def write() -> None:
            with session_scope(runtime.sessions) as session:
                create_key(session, "reader", "written during a batch check", runtime.clock.now())
            wrote.set()

        threading.Thread(target=write, daemon=True).start()
        # Were the batch checked inside its transaction, the writer would wait for it until its own lock
        # timeout and give up, never setting `wrote`: the bound is wide for a slow machine, not a race.
        assert wrote.wait(20), "another writer waited for the batch check"
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(service, "prepare", prepare_while_another_writes)
    assert uploads.add(upload_id, docs(0, 3))["documents_received"] == 3
