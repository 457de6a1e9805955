"""SQLite's write-ahead log copied back into the database file by a thread of its own, not by a commit.

Left to SQLite, the commit that takes the log past 1,000 pages copies every page of the log into the
database file and syncs it, all before it returns. Each retrieval commits its audit record and its chunk
rows (about ten pages), so one retrieval in about a hundred paid for that copy: the retrieval p99 was the
checkpoint's time (7.7-8.2 ms in process on the large corpus against a p50 of 1.6 ms).

A process that opens a Runtime on an SQLite file (`serve`, `scheduler`, the CLI commands that open the
store) runs a PASSIVE checkpoint every INTERVAL seconds on a connection of its own, in a thread. A passive
checkpoint waits for nobody: it copies the pages no reader still needs, while writers and readers go on.
The sqlite3 module lets go of the GIL while SQLite works, so the copy and its sync no longer hold up the
threads that answer.

SQLite starts the log again from its beginning only when a writer begins after every page of it has been
copied. When writes have gaps, the thread's checkpoints give it those moments. Under writes that come
back to back (a large publish, 16 clients' audit records) the next writer has usually committed again
before the copy ends, and the log would grow without end. So the process's connections keep SQLite's own
checkpoint at commit as a backstop, at BACKSTOP_FRAMES pages instead of 1,000: the commit that takes the
log past it copies what the thread has not copied yet (usually little) and the next writer starts the log
again. JOURNAL_LIMIT then shrinks the file back to that size when the log starts again.

Other processes on the same file (migrations, the commands that open only the database) keep SQLite's own
checkpoints at 1,000 pages. When the last connection to the file closes, SQLite checkpoints what is left.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, event

log = logging.getLogger("freshness.db")

INTERVAL = 0.1  # seconds between checkpoints; one that finds nothing to copy costs a few microseconds
BACKSTOP_FRAMES = 8192  # pages past which a commit checkpoints after all (32 MiB at 4 KiB a page)
JOURNAL_LIMIT = BACKSTOP_FRAMES * 4096  # bytes the log file is cut back to when it starts again


class WalCheckpointer:
    """Checkpoints an SQLite file's write-ahead log from a thread, for the connections of `engine`.

    Make it before the engine opens its first connection: connections opened earlier keep SQLite's
    checkpoint at 1,000 pages (harmless, only slower)."""

    def __init__(self, engine: Engine, interval: float = INTERVAL, backstop_frames: int = BACKSTOP_FRAMES,
                 journal_limit: int = JOURNAL_LIMIT) -> None:
        self._path = os.path.abspath(str(engine.url.database))  # the same file if the process changes directory
        self._engine = engine
        self._interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        pragmas = (f"PRAGMA wal_autocheckpoint = {int(backstop_frames)}",
                   f"PRAGMA journal_size_limit = {int(journal_limit)}")

        def leave_checkpoints_to_the_thread(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in pragmas:
                cursor.execute(pragma)
            cursor.close()

        self._listener = leave_checkpoints_to_the_thread
        event.listen(engine, "connect", self._listener)
        self._thread = threading.Thread(target=self._run, name="freshness-wal-checkpoint", daemon=True)
        self._thread.start()

    def checkpoint(self) -> tuple[int, int]:
        """One passive checkpoint now: (pages in the log, how many of them are in the database file);
        -1 for both when the file is not in WAL mode."""
        with self._lock:
            if self._connection is None:
                # mode=rw: a file that was removed is not made again, empty, by the checkpointer.
                self._connection = sqlite3.connect(f"file:{quote(self._path)}?mode=rw", uri=True,
                                                   isolation_level=None, check_same_thread=False)
            _, frames, copied = self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return frames, copied

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._disconnect()
        if event.contains(self._engine, "connect", self._listener):
            event.remove(self._engine, "connect", self._listener)

    def _disconnect(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _run(self) -> None:
        failed = False
        while not self._stop.wait(self._interval):
            try:
                self.checkpoint()
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any one failure
                # A file that cannot be read now (removed, a full disk, locked while the log is recovered): try
                # again on a new connection next time; meanwhile commits checkpoint at the backstop.
                if not failed:
                    log.warning("the write-ahead log could not be checkpointed: %s; trying again", exc)
                failed = True
                self._disconnect()
                continue
            if failed:
                log.info("the write-ahead log is checkpointed again")
            failed = False


def start_checkpointer(engine: Engine) -> WalCheckpointer | None:
    """A checkpointer for an engine on an SQLite file; None for any other database (and an in-memory one)."""
    if engine.dialect.name != "sqlite" or engine.dialect.driver != "pysqlite":
        return None
    database = engine.url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or "mode=memory" in database:
        return None
    return WalCheckpointer(engine)
