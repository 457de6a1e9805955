"""The embedded store's memory of each point's source, so that a search reads no payload.

Retrieval asks each hit for its source only, and reading it from Qdrant Edge decompresses the hit's whole
payload. A point keeps its source; only a rewrite (reconciliation's repair of a payload that differs from
the database) could change it. So each write counts itself and forgets the points it wrote, and a source
read while a write ended is answered but not remembered. Between a write and its forgetting a search may
still be answered the old source: retrieval then finds no chunk row of that point in the old source's
active snapshot and drops the hit, for that one answer.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable
from typing import Any

import qdrant_edge as qe

from freshness.vectorstore.base import DEAD_FROM, SOURCE_ID
from freshness.vectorstore.handover import hand_over

log = logging.getLogger("freshness.store")

# Points whose source is remembered (about 130 bytes each: the id's text and a dict slot; the source's name is
# shared); past it the memory starts again empty.
SOURCES_REMEMBERED = 500_000
WARM_PAGE = 256  # points whose sources one call of the warm-up reads (a few milliseconds with the GIL held)
WARM_TRIES = 3  # reads of one page, while writes keep ending during them


class SourceMemory:
    """point id -> source id, for the searches of one process; `shard_lock` is the lock the store's writes and
    its closing hold."""

    def __init__(self, shard_lock: threading.RLock) -> None:
        self.known: dict[str, str] = {}
        self.warming: threading.Thread | None = None
        self._writes = 0
        self._lock = threading.Lock()
        self._shard_lock = shard_lock
        self._closing = threading.Event()

    def forget(self, ids: Iterable[str]) -> None:
        """The sources of these points, just written or deleted, are read again when a search needs them."""
        with self._lock:
            self._writes += 1
            for point_id in ids:
                self.known.pop(point_id, None)

    def sources(self, shard: Any, ids: list[str]) -> dict[str, str]:
        """point id -> source id for `ids` (but points the store no longer has): remembered ones, the others read
        from the store in one call and remembered unless a write ended meanwhile."""
        known = self.known
        found = {point_id: source for point_id in ids if (source := known.get(point_id)) is not None}
        if len(found) == len(ids):
            return found
        writes = self._writes
        missing = [point_id for point_id in ids if point_id not in found]
        read = _sources_of(shard.retrieve(list[Any](missing), with_payload=[SOURCE_ID], with_vector=False))
        with self._lock:
            if writes == self._writes:
                if len(self.known) + len(read) > SOURCES_REMEMBERED:
                    self.known = {}  # a new dict: another thread's search may be reading the old one
                self.known.update(read)
        found.update(read)
        return found

    def warm_up(self, shard: Any, wait: bool = False) -> None:
        """Read the source of every point no snapshot has given up (no dead mark), on a thread of its own, a page
        at a time; once per memory, `stop` ends it.

        Without it, a search whose hits the memory does not know yet reads their sources from the store: with
        queries that rarely repeat, nearly every search did. A store with more live points than half the memory
        holds is not read ahead: the searches' own reads would fill the rest and start the memory again empty,
        and the warm-up's work would be lost."""
        with self._lock:
            if self.warming is None:
                if self._closing.is_set():
                    return
                self.warming = threading.Thread(target=self._remember_live_points, args=(shard,),
                                                name="edge-warm-up", daemon=True)
                self.warming.start()
            warming = self.warming
        if wait and warming is not None:
            warming.join()

    def stop(self) -> None:
        """End the warm-up (after the page in progress) before the shard closes."""
        self._closing.set()
        with self._lock:
            warming = self.warming
        if warming is not None and warming is not threading.current_thread():
            warming.join()

    def _remember_live_points(self, shard: Any) -> None:
        try:
            live = qe.Filter(must_not=[qe.FieldCondition(DEAD_FROM, range=qe.RangeFloat(gte=0))])
            if shard.count(qe.CountRequest(exact=True, filter=live)) > SOURCES_REMEMBERED // 2:
                return
            offset: Any = None
            while True:
                going_on, offset = self._remember_page(shard, live, offset)
                if not going_on or offset is None:
                    return
                hand_over()
        except Exception as exc:  # noqa: BLE001 - searches read what is missing; the service goes on
            log.warning("the store's warm-up stopped (%s): searches read the sources they need", exc)

    def _remember_page(self, shard: Any, live: qe.Filter, offset: Any) -> tuple[bool, Any]:
        """Remember the sources of one page of live points; returns whether to go on (not closing, not full) and
        the next page's offset. A page read while a write ended is read again (a rewrite may have changed a
        source), and left to the searches after WARM_TRIES reads."""
        after: Any = None
        for _ in range(WARM_TRIES):
            writes = self._writes
            with self._shard_lock:  # the store's `close` takes it too: the shard is not closed under a page read
                if self._closing.is_set():
                    return False, None
                records, after = shard.scroll(qe.ScrollRequest(
                    offset=offset, limit=WARM_PAGE, filter=live, with_payload=[SOURCE_ID], with_vector=False))
            read = _sources_of(records)
            with self._lock:
                if len(self.known) + len(read) > SOURCES_REMEMBERED:
                    return False, None  # points written meanwhile filled it: searches read the rest
                if writes == self._writes:
                    self.known.update(read)
                    break
        return True, after


def _sources_of(records: Iterable[Any]) -> dict[str, str]:
    read: dict[str, str] = {}
    for record in records:
        source = (record.payload or {}).get(SOURCE_ID)
        if isinstance(source, str):
            read[str(record.id)] = sys.intern(source)
    return read
