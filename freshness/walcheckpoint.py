"""SQLite's write-ahead log copied back into the database file by a thread of its own, not by a commit.

Left to SQLite, the commit that takes the log past 1,000 pages copies every page of the log into the
database file and syncs it, all before it returns. Each retrieval commits its audit record and its chunk
rows (about ten pages), so one retrieval in about a hundred paid for that copy: the retrieval p99 was the
checkpoint's time (7.7-8.2 ms in process on the large corpus against a p50 of 1.6 ms).

In a process that holds a Runtime on an SQLite file, its connections commit without checkpointing
(`wal_autocheckpoint = 0`) and a thread runs a PASSIVE checkpoint every INTERVAL seconds on a connection
of its own. A passive checkpoint waits for nobody: it copies the pages no reader still needs, and writers
and readers go on meanwhile. The sqlite3 module lets go of the GIL while SQLite works, so that copy and its
sync no longer hold up the threads that answer. Once every page of the log has been copied, the next
writer starts the log again from its beginning, as with SQLite's own checkpoints; in the usual case the
log holds what is written between two checkpoints (a 5,000-chunk publish beside retrievals grew it to
16 MB, against 6.4 MB with SQLite's own checkpoints).

A log that is not started again stays as large as it grew. That happens when a reader still reads its
end each time a writer begins, which a long publish beside steady retrievals can keep up: the log then
grows until its end is copied. Once the log holds TRUNCATE_FRAMES frames, all of them copied, the thread
also tries a TRUNCATE checkpoint: it takes SQLite's write lock if it is free at that moment (it never
waits: its connection has no busy timeout) and empties the log file, or gives up if a reader still uses
the log, to try again a checkpoint later. Writers of
this process meet that lock for the copy of the few frames written since the passive checkpoint.

Other processes on the same file (the CLI, migrations) keep SQLite's own checkpoints. When the last
connection to the file closes, SQLite checkpoints whatever is left.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, event

log = logging.getLogger("freshness.db")

INTERVAL = 0.1  # seconds between checkpoints; one that finds nothing to copy costs a few microseconds
TRUNCATE_FRAMES = 8192  # a log of this many pages (32 MiB at 4 KiB), all copied, is emptied when it can be


class WalCheckpointer:
    """Checkpoints an SQLite file's write-ahead log from a thread, for the connections of `engine`.

    Make it before the engine opens its first connection: connections opened earlier keep checkpointing
    when they commit (harmless, only slower)."""

    def __init__(self, engine: Engine, interval: float = INTERVAL, truncate_frames: int = TRUNCATE_FRAMES) -> None:
        self._path = str(engine.url.database)
        self._interval = interval
        self._truncate_frames = truncate_frames
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        event.listen(engine, "connect", _no_autocheckpoint)
        self._thread = threading.Thread(target=self._run, name="freshness-wal-checkpoint", daemon=True)
        self._thread.start()

    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int]:
        """One checkpoint now (PASSIVE or TRUNCATE): (frames in the log, how many of them are copied into the
        file); -1 for both when the log is not in use."""
        with self._lock:
            if self._connection is None:
                # No busy timeout: a TRUNCATE checkpoint that finds the write lock taken, or a reader on the log,
                # gives up at once rather than hold the lock while it waits.
                self._connection = sqlite3.connect(self._path, timeout=0, isolation_level=None,
                                                   check_same_thread=False)
            _, frames, copied = self._connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            return frames, copied

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _run(self) -> None:
        failed = False
        while not self._stop.wait(self._interval):
            try:
                frames, copied = self.checkpoint()
                if frames >= self._truncate_frames and copied == frames:
                    self.checkpoint("TRUNCATE")
            except sqlite3.Error as exc:
                # A file that cannot be read now (removed, locked while the log is recovered): try again
                # on a new connection next time; SQLite's checkpoint on close covers what is left.
                if not failed:
                    log.warning("the write-ahead log could not be checkpointed: %s; trying again", exc)
                failed = True
                with self._lock:
                    if self._connection is not None:
                        self._connection.close()
                        self._connection = None
                continue
            failed = False


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint = 0")
    cursor.close()


def start_checkpointer(engine: Engine) -> WalCheckpointer | None:
    """A checkpointer for an engine on an SQLite file; None for any other database (and an in-memory one)."""
    if engine.dialect.name != "sqlite" or engine.dialect.driver != "pysqlite":
        return None
    database = engine.url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or "mode=memory" in database:
        return None
    return WalCheckpointer(engine)
