"""The write-ahead log of an SQLite file is copied back by the runtime's own thread, never by a commit."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from freshness.db import make_engine
from freshness.runtime import open_runtime
from freshness.walcheckpoint import WalCheckpointer, start_checkpointer
from tests.conftest import PG_URL

sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="the write-ahead log is SQLite's")
PAGE = 4096
BLOB = 64 * PAGE  # a row that fills 64 pages of the log


def _database(settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))


def _write(engine, rows: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS filler (body BLOB)"))
        for _ in range(rows):
            conn.execute(text("INSERT INTO filler VALUES (randomblob(:n))"), {"n": BLOB})


@sqlite_only
def test_a_commit_leaves_the_log_to_the_checkpointer(settings) -> None:
    runtime = open_runtime(settings)
    try:
        assert runtime.wal is not None
        runtime.wal.close()  # the thread stopped: only a commit could copy the log back now
        path = _database(settings)
        before = path.stat().st_size
        # 2,560 pages, far past SQLite's own checkpoint at 1,000, in one commit.
        _write(runtime.engine, 40)
        with runtime.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        assert path.stat().st_size < before + 40 * BLOB // 2, "the commit checkpointed the log itself"
        assert Path(f"{path}-wal").stat().st_size >= 40 * BLOB
    finally:
        runtime.close()


@sqlite_only
def test_the_checkpointer_copies_the_log_into_the_file(settings) -> None:
    runtime = open_runtime(settings)
    try:
        path = _database(settings)
        before = path.stat().st_size
        _write(runtime.engine, 8)  # 512 pages: below SQLite's own threshold, so no commit would copy them
        deadline = time.monotonic() + 10
        while path.stat().st_size < before + 8 * BLOB and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size >= before + 8 * BLOB
        # Everything the log holds is in the file: a checkpoint now finds nothing left to copy.
        frames, copied = runtime.wal.checkpoint()
        assert frames == copied
        # And the next writer starts the log again from its beginning.
        _write(runtime.engine, 1)
        with sqlite3.connect(path) as check:
            frames_after = check.execute("PRAGMA wal_checkpoint(NOOP)").fetchone()[1]
        assert 0 < frames_after < 8 * 64
    finally:
        runtime.close()


@sqlite_only
def test_a_closed_runtime_stops_its_thread(settings) -> None:
    runtime = open_runtime(settings)
    thread = runtime.wal._thread
    runtime.close()
    assert not thread.is_alive()


def test_only_an_sqlite_file_gets_a_checkpointer(tmp_path: Path) -> None:
    memory = create_engine("sqlite://")
    assert start_checkpointer(memory) is None
    memory.dispose()
    on_file = make_engine(f"sqlite:///{tmp_path / 'f.db'}")
    wal = start_checkpointer(on_file)
    try:
        assert wal is not None
    finally:
        wal.close()
        on_file.dispose()
    if PG_URL:
        postgres = make_engine(PG_URL)
        assert start_checkpointer(postgres) is None
        postgres.dispose()


@sqlite_only
def test_a_log_grown_large_is_emptied_once_copied(settings) -> None:
    engine = make_engine(settings.database_url)
    wal = WalCheckpointer(engine, interval=0.05, truncate_frames=256)
    try:
        path = _database(settings)
        log = Path(f"{path}-wal")
        # A reader holds the start of the log while the writer goes on: the log cannot be started again.
        reader = sqlite3.connect(path, isolation_level=None)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM sources").fetchone()
            _write(engine, 8)
            time.sleep(0.2)  # passive checkpoints copy what they may; the log cannot start again
            _write(engine, 8)
        finally:
            reader.close()
        grown = log.stat().st_size
        assert grown >= 16 * BLOB
        deadline = time.monotonic() + 10
        while log.stat().st_size and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log.stat().st_size == 0, "the log stayed as large as it grew"
        with engine.connect() as conn:  # and nothing written is lost
            assert conn.exec_driver_sql("SELECT count(*) FROM filler").scalar() == 16
    finally:
        wal.close()
        engine.dispose()
