"""The database's disk fills up. Reads keep working, so a readiness check that only reads would say
ready while every retrieval (which must write its audit record) fails. Instead: publishes and
retrievals answer 503 problem details, `/ready` fails from the first refused write until a write
succeeds again, and the service recovers by itself once there is room.

Two ways to fill the disk: for real, the SQLite file on a tiny tmpfs (needs the right to mount; skipped
where that is refused), and simulated on either backend, the driver's own disk-full error raised for
every write statement."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import replace
from pathlib import Path

import psycopg.errors
import pytest
from litestar.testing import TestClient
from sqlalchemy import event

from freshness.app import create_app
from freshness.auth.keys import create_key
from freshness.db import make_engine, make_session_factory, session_scope
from freshness.sources import publish as publishing
from tests.conftest import PG_URL, Api, publish, register
from tests.faults.bounded import assert_problem, starts_with

ASK = {"query": "refund days", "task_class": "general_question"}
WRITES = ("INSERT", "UPDATE", "DELETE")


def _disk_full() -> Exception:
    if PG_URL:
        return psycopg.errors.DiskFull('could not extend file "base/5/16390": No space left on device')
    return sqlite3.OperationalError("database or disk is full")


@contextmanager
def disk_full(engine, statements: tuple[str, ...] = WRITES) -> Iterator[None]:
    def execute(cursor, statement, parameters, context) -> None:  # noqa: ANN001
        if any(starts_with(statement, start) for start in statements):
            raise _disk_full()

    event.listen(engine, "do_execute", execute)
    event.listen(engine, "do_executemany", execute)
    try:
        yield
    finally:
        event.remove(engine, "do_execute", execute)
        event.remove(engine, "do_executemany", execute)


def _documents(days: int, size: int = 0) -> dict:
    filler = " ".join(f"Clause {i} keeps the refund terms of the store." for i in range(size))
    return {"documents": [{"id": "refunds.md", "text": f"Refunds are accepted within {days} days. {filler}"}]}


def _assert_full_then_recovered(admin: Api, reader: Api, fill, free) -> None:
    fill()
    try:
        assert_problem(admin.post("/v1/sources/refund-policy/snapshots", json=_documents(14, 400)),
                       503, "database-unavailable")
        assert_problem(reader.post("/v1/retrieve", json=ASK), 503, "database-unavailable")
        ready = admin.client.get("/ready")
        assert_problem(ready, 503, "not-ready")
        assert "writes refused" in ready.json()["checks"]["database"]
        assert admin.get("/v1/sources").status_code == 200  # reads still answer
    finally:
        free()

    assert admin.client.get("/ready").status_code == 200
    assert admin.post("/v1/sources/refund-policy/snapshots", json=_documents(7, 400)).status_code == 201
    assert reader.post("/v1/retrieve", json=ASK).status_code == 200


def test_a_full_disk_answers_503_and_fails_readiness_until_there_is_room(admin, keys):
    register(admin, "refund-policy")
    publish(admin, "refund-policy", _documents(30)["documents"])
    engine = admin.client.app.state.runtime.engine
    full = disk_full(engine)

    _assert_full_then_recovered(admin, admin.as_key(keys.reader), full.__enter__,
                                lambda: full.__exit__(None, None, None))


def test_a_publish_that_fails_midway_on_a_full_disk_does_not_block_the_next_one(admin, monkeypatch):
    """The chunk rows do not fit, and neither does marking the snapshot failed: the next publish of the
    source, once there is room, must not meet a 409 "publish already in progress"."""
    # A snapshot this small writes its chunk rows with its reservation; here they follow it, as a large one's do.
    monkeypatch.setattr(publishing, "RESERVATION_ROWS", 0)
    monkeypatch.setattr(publishing, "CHUNK_ROWS_PER_TRANSACTION", 1)
    register(admin, "refund-policy")
    publish(admin, "refund-policy", _documents(30)["documents"])
    engine = admin.client.app.state.runtime.engine

    with disk_full(engine, ("INSERT INTO CHUNKS", "UPDATE SNAPSHOTS")):
        failed = admin.post("/v1/sources/refund-policy/snapshots", json=_documents(14, 400))
    assert_problem(failed, 503, "database-unavailable")

    assert admin.post("/v1/sources/refund-policy/snapshots", json=_documents(14)).status_code == 201
    states = [s["state"] for s in admin.get("/v1/sources/refund-policy/snapshots").json()["items"]]
    assert sorted(states) == ["active", "failed", "superseded"]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    if PG_URL:
        pytest.skip("the SQLite file on a tiny filesystem")
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); the simulated test covers it")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    """Write a file until the filesystem has no byte left."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 1 << 12, 1 << 8, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_the_sqlite_file_on_a_filesystem_that_fills_up(tiny_disk, settings, migrated_template, clock):
    database = tiny_disk / "freshness.db"
    shutil.copy(migrated_template, database)
    settings = replace(settings, database_url=f"sqlite:///{database}")
    engine = make_engine(settings.database_url)
    with session_scope(make_session_factory(engine)) as session:
        admin_key = create_key(session, "admin", "ops", clock.now())[1]
        reader_key = create_key(session, "reader", "assistant", clock.now())[1]
    engine.dispose()

    with TestClient(app=create_app(settings, clock=clock)) as client:
        admin, reader = Api(client, admin_key), Api(client, reader_key)
        register(admin, "refund-policy")
        publish(admin, "refund-policy", _documents(30)["documents"])
        filler: list[Path] = []

        def fill() -> None:
            # The service's thread copies the write-ahead log back and SQLite then writes the log again from its
            # start, into the file's blocks it already has: a write that fits there commits on a full disk. Empty
            # the log file first, so that every write needs a new block, as on a disk that filled up long ago.
            with closing(sqlite3.connect(database)) as conn:
                assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
            filler.append(_fill(tiny_disk))

        _assert_full_then_recovered(admin, reader, fill, lambda: filler[0].unlink())
