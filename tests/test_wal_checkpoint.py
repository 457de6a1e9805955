"""The write-ahead log of an SQLite file is copied back by the runtime's own thread, not by retrievals'
commits; commits checkpoint only past the backstop, so the log stays bounded under writes that never pause."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from freshness.db import make_engine
from freshness.runtime import open_runtime
from freshness.walcheckpoint import BACKSTOP_FRAMES, WalCheckpointer, start_checkpointer
from tests.conftest import PG_URL

sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="the write-ahead log is SQLite's")
PAGE = 4096
BLOB = 64 * PAGE  # a row that fills 64 pages of the log


def _database(settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))


def _write(engine, rows: int, commits: int = 1) -> None:
    for _ in range(commits):
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS filler (body BLOB)"))
            for _ in range(rows):
                conn.execute(text("INSERT INTO filler VALUES (randomblob(:n))"), {"n": BLOB})


def _log_frames(path: Path) -> int:
    """Pages the log holds, read from its size (a 32-byte header, then 24 bytes of header per page)."""
    log = Path(f"{path}-wal")
    size = log.stat().st_size if log.exists() else 0
    return max(0, size - 32) // (PAGE + 24)


@sqlite_only
def test_a_commit_past_1000_pages_leaves_the_log_to_the_checkpointer(settings) -> None:
    runtime = open_runtime(settings)
    try:
        assert runtime.wal is not None
        runtime.wal.close()  # the thread stopped: only a commit could copy the log back now
        path = _database(settings)
        before = path.stat().st_size
        # 2,560 pages, far past SQLite's own checkpoint at 1,000 and below the backstop, in one commit.
        _write(runtime.engine, 40)
        with runtime.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == BACKSTOP_FRAMES
        assert path.stat().st_size < before + 40 * BLOB // 2, "the commit checkpointed the log itself"
        assert _log_frames(path) >= 40 * 64
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
        assert frames == copied > 0
        # And the next writer starts the log again from its beginning.
        _write(runtime.engine, 1)
        frames_after, _ = runtime.wal.checkpoint()
        assert 0 < frames_after < 8 * 64
    finally:
        runtime.close()


@sqlite_only
def test_writes_that_never_pause_keep_the_log_bounded(settings) -> None:
    """Back-to-back commits leave the thread no moment when the whole log is copied before the next
    writer begins; the backstop starts the log again and the size limit cuts the file back."""
    engine = make_engine(settings.database_url)
    wal = WalCheckpointer(engine, interval=0.01, backstop_frames=256, journal_limit=256 * PAGE)
    try:
        path = _database(settings)
        largest = 0
        for _ in range(40):  # 2,560 pages in 40 commits of 64, one after the other
            _write(engine, 1)
            largest = max(largest, _log_frames(path))
        assert largest < 3 * 256, f"the log grew to {largest} pages under a backstop of 256"
        with engine.connect() as conn:  # nothing written is lost
            assert conn.exec_driver_sql("SELECT count(*) FROM filler").scalar() == 40
    finally:
        wal.close()
        engine.dispose()


@sqlite_only
def test_the_thread_outlives_a_failure_and_says_so_once(settings, monkeypatch, caplog) -> None:
    engine = make_engine(settings.database_url)
    wal = WalCheckpointer(engine, interval=0.01)
    try:
        calls = []

        def failing() -> tuple[int, int]:
            calls.append(1)
            raise ValueError("not an sqlite3 error")

        monkeypatch.setattr(wal, "checkpoint", failing)
        with caplog.at_level(logging.WARNING, logger="freshness.db"):
            deadline = time.monotonic() + 5
            while len(calls) < 5 and time.monotonic() < deadline:
                time.sleep(0.01)
        assert len(calls) >= 5 and wal._thread.is_alive()
        assert sum("could not be checkpointed" in r.message for r in caplog.records) == 1
    finally:
        wal.close()
        engine.dispose()


@sqlite_only
def test_a_removed_database_file_is_not_made_again(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
    engine.dispose()
    wal = WalCheckpointer(engine, interval=3600)
    try:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        with pytest.raises(sqlite3.OperationalError):
            wal.checkpoint()
        assert not path.exists()
    finally:
        wal.close()


@sqlite_only
def test_a_closed_runtime_stops_its_thread(settings) -> None:
    runtime = open_runtime(settings)
    thread = runtime.wal._thread
    runtime.close()
    assert not thread.is_alive()


def test_only_an_sqlite_file_gets_a_checkpointer(tmp_path: Path) -> None:
    for url in ("sqlite://", "sqlite:///:memory:", "sqlite:///file:shared?mode=memory&cache=shared&uri=true"):
        memory = create_engine(url, poolclass=NullPool)
        assert start_checkpointer(memory) is None, url
        memory.dispose()
    on_file = make_engine(f"sqlite:///{tmp_path / 'f.db'}")
    wal = start_checkpointer(on_file)
    assert wal is not None
    wal.close()
    on_file.dispose()
    if PG_URL:
        postgres = make_engine(PG_URL)
        assert start_checkpointer(postgres) is None
        postgres.dispose()


@sqlite_only
def test_a_relative_path_names_the_same_file_after_the_process_changes_directory(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    engine = make_engine("sqlite:///relative.db")
    wal = WalCheckpointer(engine, interval=3600)
    try:
        _write(engine, 1)
        monkeypatch.chdir(tmp_path / "elsewhere")
        frames, copied = wal.checkpoint()
        assert frames == copied > 0
        assert not (tmp_path / "elsewhere" / "relative.db").exists()
    finally:
        wal.close()
        engine.dispose()


@sqlite_only
def test_a_closed_checkpointer_leaves_new_connections_to_sqlite(settings) -> None:
    engine = make_engine(settings.database_url)
    wal = WalCheckpointer(engine, interval=3600, backstop_frames=300)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 300
    wal.close()
    engine.dispose()  # pooled connections keep what they were given; new ones are SQLite's again
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    engine.dispose()


@sqlite_only
def test_a_checkpointer_that_fails_to_close_still_lets_the_runtime_close_the_database(settings, monkeypatch) -> None:
    runtime = open_runtime(settings)
    wal = runtime.wal
    disposed = []
    dispose = runtime.engine.dispose
    monkeypatch.setattr(runtime.engine, "dispose", lambda: (disposed.append(1), dispose()))

    def failing_close() -> None:
        raise RuntimeError("the thread would not stop")

    monkeypatch.setattr(wal, "close", failing_close)
    with pytest.raises(RuntimeError, match="would not stop"):
        runtime.close()
    assert disposed == [1]
    monkeypatch.undo()
    wal.close()
