"""What a failing database looks like to the service (SPEC §8).

- `is_unavailable`: the database is down, hung, out of space or refusing writes. The request
  answers 503 problem details (`DatabaseUnavailable`), never a 500: it is not the caller's
  fault and not a bug, and a retry later may succeed.
- `is_transient`: a deadlock or serialisation failure. The unit of work is tried again a few
  times (`retrying`) before anything is reported.
- `refuses_writes`: the database answers reads but cannot store anything (disk full, read-only,
  failing storage, write lock never free). Reads keep working then, so `/ready` cannot see it
  by reading; `WriteHealth` remembers it until a write succeeds again.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from freshness.errors import Unavailable

T = TypeVar("T")

ATTEMPTS = 3
BACKOFF = 0.025  # seconds before the first retry; doubled each time, jittered

_TRANSIENT_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected
# disk_full and the rest of insufficient_resources, read-only transaction (a standby after failover),
# io_error and the rest of system_error.
_WRITE_REFUSED_SQLSTATE_CLASSES = ("53", "58")
_WRITE_REFUSED_SQLSTATES = {"25006"}
# Connection exceptions, operator intervention (statement timeout, shutdown), lock not available,
# idle-in-transaction timeout: the database, not the request, is at fault.
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "57", "53", "58", "40")
_UNAVAILABLE_SQLSTATES = {"55P03", "25P03", "25006"}
# SQLite primary result codes: BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL.
_SQLITE_BUSY = {5, 6}
_SQLITE_REFUSED = {8, 10, 13, 14, 15}
_SQLITE_BUSY_TEXT = ("database is locked", "database table is locked")
_SQLITE_REFUSED_TEXT = ("disk is full", "disk i/o error", "readonly database", "unable to open database")


class DatabaseUnavailable(Unavailable):
    type = "database-unavailable"
    title = "The database is unavailable"


def _driver_error(exc: BaseException) -> BaseException:
    return exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(_driver_error(exc), "sqlstate", None)


def _sqlite_kind(exc: BaseException) -> str | None:
    """`busy`, `refused` or None for an SQLite error (by result code, or by message when it has none)."""
    error = _driver_error(exc)
    if not isinstance(error, sqlite3.Error):
        return None
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        primary = code & 0xFF
        return "busy" if primary in _SQLITE_BUSY else "refused" if primary in _SQLITE_REFUSED else None
    text = str(error).lower()
    if any(marker in text for marker in _SQLITE_BUSY_TEXT):
        return "busy"
    if any(marker in text for marker in _SQLITE_REFUSED_TEXT):
        return "refused"
    return None


def is_transient(exc: BaseException) -> bool:
    """A deadlock or serialisation failure: the same unit of work may well succeed if tried again."""
    if _sqlstate(exc) in _TRANSIENT_SQLSTATES:
        return True
    # SQLite reports a busy database at once, without waiting, when waiting could not help
    # (a read transaction that wants to write after another writer committed).
    return _sqlite_kind(exc) == "busy" and not isinstance(exc, DatabaseUnavailable)


def refuses_writes(exc: BaseException) -> bool:
    if isinstance(exc, DatabaseUnavailable):
        return True
    state = _sqlstate(exc)
    if state is not None:
        return state in _WRITE_REFUSED_SQLSTATES or state.startswith(_WRITE_REFUSED_SQLSTATE_CLASSES)
    return _sqlite_kind(exc) is not None


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, (DatabaseUnavailable, PoolTimeout)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    state = _sqlstate(exc)
    if state is not None:
        return state in _UNAVAILABLE_SQLSTATES or state.startswith(_UNAVAILABLE_SQLSTATE_CLASSES)
    if isinstance(_driver_error(exc), sqlite3.Error):
        # SQLite also reports syntax errors and missing tables as OperationalError: those are bugs.
        return _sqlite_kind(exc) is not None
    # PEP 249: errors outside the program's control (a lost connection, a client-side timeout).
    return isinstance(exc, OperationalError)


def as_unavailable(exc: BaseException, consequence: str = "") -> DatabaseUnavailable:
    """The 503 a caller sees for `exc`, saying what kind of trouble it was without internals."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    if isinstance(exc, PoolTimeout):
        detail = "every database connection stayed busy past FRESHNESS_DB_TIMEOUT"
    elif _sqlite_kind(exc) == "busy" or _sqlstate(exc) in {"55P03", *_TRANSIENT_SQLSTATES}:
        detail = "the database stayed locked by other work past FRESHNESS_DB_TIMEOUT"
    elif refuses_writes(exc):
        detail = "the database refuses writes (disk full, read-only or failing storage)"
    else:
        detail = "the database is unreachable or did not answer within FRESHNESS_DB_TIMEOUT"
    return DatabaseUnavailable(f"{detail}{consequence}; retry shortly")


def backoff(attempt: int, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait before retry number `attempt` (0 first): jittered so that the losers of a deadlock do not
    meet again at the same moment."""
    sleep(BACKOFF * 2**attempt * random.uniform(0.5, 1.5))


def retrying(work: Callable[[], T], *, budget: float | None = None, attempts: int = ATTEMPTS,
             sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `work`; after a deadlock or serialisation failure, run it again, up to `attempts` times in
    all and only while `budget` seconds (the database timeout) have not gone by. What still fails
    is raised as it was."""
    started = time.monotonic()
    for attempt in range(attempts):
        try:
            return work()
        except Exception as exc:
            spent = time.monotonic() - started
            if attempt + 1 >= attempts or not is_transient(exc) or (budget is not None and spent >= budget):
                raise
        backoff(attempt, sleep)
    raise AssertionError("unreachable")


class WriteHealth:
    """Whether the last write this process tried was refused by the database, until one succeeds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.refused_at: float | None = None
        self.reason: str | None = None

    @property
    def refusing(self) -> bool:
        return self.refused_at is not None

    def refused(self, exc: BaseException) -> None:
        with self._lock:
            self.refused_at = time.time()
            self.reason = as_unavailable(exc).detail

    def succeeded(self) -> None:
        with self._lock:
            self.refused_at = None
            self.reason = None


_health: weakref.WeakKeyDictionary[Engine, WriteHealth] = weakref.WeakKeyDictionary()


def write_health(engine: Engine) -> WriteHealth:
    """The write health of `engine` (shared by every session and thread of the process)."""
    health = _health.get(engine)
    if health is None:
        health = _health.setdefault(engine, WriteHealth())
    return health
