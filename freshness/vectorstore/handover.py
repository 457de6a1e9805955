"""Handing the GIL to retrievals while a publish runs Python in the same process, only when one is going on.

In `serve` a publisher (BM25 embedding, store writes) and the retrievals share one interpreter. A
thread that holds the GIL keeps the others waiting up to the switch interval (5 ms) at each of their
database and store calls, so the publisher sleeps for 0 s now and then to let them through at once.
When no retrieval is in progress that sleep is pure cost, and on a busy machine giving up the core can
take milliseconds: a publish with nobody retrieving spent a seventh of its time there. So retrievals
count themselves in and out, and a publisher hands over only while one is counted.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType


class Readers:
    """How many retrievals are in progress in this process."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self._count += 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        with self._lock:
            self._count -= 1

    @property
    def active(self) -> int:
        return self._count


readers = Readers()


def hand_over() -> None:
    """Let a waiting retrieval have the GIL now, rather than after the switch interval; free when none runs."""
    if readers.active:
        time.sleep(0)
