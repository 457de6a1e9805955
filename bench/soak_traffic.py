"""The soak's traffic against a running `serve`: readers retrieving, writers changing what is active.

Writes on one source are serialised by that source's lock and timed on this process's monotonic clock,
so that for any answer the checker can tell which snapshots may have been active while it was produced
(see `Change`). A write whose outcome the client never learned (the connection dropped, or a 5xx) leaves
its source pending until its state has been read back from the service; the read closes the window.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import httpx
import msgspec

from bench.corpus import Corpus, Query, SourceSpec

TOP_K = 5
TIMEOUT = 30.0
# Below uvicorn's keep-alive timeout (5 s), so that no client reuses a connection the server is closing.
LIMITS = httpx.Limits(keepalive_expiry=2.0)


@dataclass(frozen=True)
class Answer:
    """A 200 of POST /v1/retrieve, timed from just before the request was sent to just after the reply."""

    request_id: str
    started: float
    ended: float
    served: tuple[tuple[str, str, str], ...]  # (source_id, snapshot_id, chunk_id) by rank


@dataclass(frozen=True)
class Change:
    """A write on a source: at one moment between `started` and `ended` its active snapshot became `active`
    (None: it has none, and if `retired`, never will again)."""

    source_id: str
    started: float
    ended: float
    active: str | None
    retired: bool = False


class Outage:
    """The kill window: from the SIGKILL until the restarted service answered /ready."""

    def __init__(self) -> None:
        self.began: float | None = None
        self.ended: float | None = None

    def covers(self, moment: float) -> bool:
        return self.began is not None and moment >= self.began and (self.ended is None or moment <= self.ended)


@dataclass
class Log:
    """Everything the clients saw. Appended to from many threads under `lock`."""

    outage: Outage
    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: list[Answer] = field(default_factory=list)
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (ended, seconds) of answered retrievals
    statuses: Counter = field(default_factory=Counter)  # "retrieve 200", "publish 201", "activate 409", ...
    outcomes: Counter = field(default_factory=Counter)  # ok / flagged / insufficient_context
    server_errors: list[str] = field(default_factory=list)  # 5xx outside the kill window
    server_errors_in_outage: int = 0
    dropped: list[str] = field(default_factory=list)  # transport errors outside the kill window
    dropped_in_outage: int = 0
    changes: list[Change] = field(default_factory=list)

    def reply(self, what: str, started: float, response: httpx.Response) -> None:
        ended = time.monotonic()
        with self.lock:
            self.statuses[f"{what} {response.status_code}"] += 1
            if response.status_code >= 500:
                if self.outage.covers(ended):
                    self.server_errors_in_outage += 1
                else:
                    self.server_errors.append(f"{what} {response.status_code}: {response.text[:300]}")
            if what == "retrieve":
                self.latencies.append((ended, ended - started))

    def lost(self, what: str, error: Exception) -> None:
        with self.lock:
            if self.outage.covers(time.monotonic()):
                self.dropped_in_outage += 1
            else:
                self.dropped.append(f"{what}: {type(error).__name__}: {error}")

    def add(self, item: Answer | Change) -> None:
        with self.lock:
            (self.answers if isinstance(item, Answer) else self.changes).append(item)


def client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT, limits=LIMITS)


def read(url: str, key: str, number: int, queries: list[Query], log: Log, stop: threading.Event, run: str) -> None:
    """One reader: retrievals back to back until `stop`, each with a request id of its own.

    Half of them bring the query's dense vector too, so hybrid search runs beside BM25."""
    backoff = 0.1
    with client(url, key) as http:
        for seq in range(10**9):
            if stop.is_set():
                return
            query = queries[(seq * 17 + number) % len(queries)]
            body = {"query": query.text, "task_class": query.task_class, "top_k": TOP_K}
            if seq % 2:
                body["vector"] = query.vector
            request_id = f"soak-{run}-{number:02d}-{seq:07d}"
            started = time.monotonic()
            try:
                response = http.post("/v1/retrieve", content=msgspec.json.encode(body),
                                     headers={"X-Request-ID": request_id, "Content-Type": "application/json"})
            except httpx.TransportError as error:
                log.lost("retrieve", error)
                stop.wait(backoff)  # while serve is down, do not spin on refused connections
                continue
            ended = time.monotonic()
            log.reply("retrieve", started, response)
            if response.status_code == 200:
                answer = response.json()
                served = tuple((r["source_id"], r["snapshot_id"], r["chunk_id"]) for r in answer["results"])
                log.add(Answer(answer["request_id"], started, ended, served))
                with log.lock:
                    log.outcomes[answer["status"]] += 1


class Writers:
    """Publishers, rollbacks and retire-then-register, on the sources of one corpus.

    `keys` maps an owner to its publisher key: each write goes through the guard of its owner."""

    def __init__(self, url: str, keys: dict[str, str], corpus: Corpus, log: Log, run: str, seed: int) -> None:
        self.url, self.keys, self.corpus, self.log, self.run = url, keys, corpus, log, run
        self.rng = random.Random(seed)
        self.live: list[SourceSpec] = []
        self.specs: dict[str, SourceSpec] = {}  # every source registered, retired ones too
        self.locks: dict[str, threading.Lock] = {}
        self.pending: dict[str, float] = {}  # source id -> start of a write whose outcome is unknown
        self.guard = threading.Lock()
        self.renamed = 0
        self.publishing = 0  # publishes in flight, so that the kill can be aimed at one

    def setup(self) -> None:
        """Register and publish every source of the corpus, one after the other."""
        for spec in self.corpus.sources:
            self._add(replace(spec, id=f"{spec.id}-{self.run}"))

    def _add(self, spec: SourceSpec) -> None:
        # Held until the first publish is done: no other writer may touch the source before that.
        lock = threading.Lock()
        lock.acquire()
        with self.guard:
            self.locks[spec.id] = lock
            self.specs[spec.id] = spec
        try:
            body = {"id": spec.id, "title": f"Soak {spec.id}", "owner": spec.owner,
                    "source_class": spec.source_class, "tags": list(spec.tags)}
            if self._write(spec, "register", "POST", "/v1/sources", body) is None:
                return
            with self.guard:
                self.live.append(spec)
            self._publish(spec, frozenset())
        finally:
            lock.release()

    def _write(self, spec: SourceSpec, what: str, method: str, path: str, body: object = None) -> httpx.Response | None:
        """One write; None when it failed. A dropped connection or a 5xx marks the source pending."""
        started = time.monotonic()
        content = b"" if body is None else msgspec.json.encode(body)
        try:
            with client(self.url, self.keys[spec.owner]) as http:
                response = http.request(method, path, content=content, headers={"Content-Type": "application/json"})
        except httpx.TransportError as error:
            self.log.lost(what, error)
            self.pending.setdefault(spec.id, started)
            return None
        self.log.reply(what, started, response)
        if response.status_code >= 500:
            self.pending.setdefault(spec.id, started)
        if response.status_code >= 300:
            return None
        return response

    def _publish(self, spec: SourceSpec, changed: frozenset[int]) -> None:
        started = time.monotonic()
        request = self.corpus.publish_request(spec, datetime.now(UTC), changed)
        with self.guard:
            self.publishing += 1
        try:
            response = self._write(spec, "publish", "POST", f"/v1/sources/{spec.id}/snapshots", request)
        finally:
            with self.guard:
                self.publishing -= 1
        if response is not None and response.status_code == 201:
            self.log.add(Change(spec.id, started, time.monotonic(), response.json()["snapshot"]["id"]))

    def _settle(self, spec: SourceSpec) -> bool:
        """Read a pending source's state back: the unknown write took effect, if at all, before this read."""
        started = self.pending.get(spec.id)
        if started is None:
            return True
        try:
            with client(self.url, self.keys[spec.owner]) as http:
                response = http.get(f"/v1/sources/{spec.id}")
        except httpx.TransportError:
            return False
        if response.status_code == 404:
            # Its registration never committed: nothing of it can have been served.
            self.pending.pop(spec.id)
            self._retire_locally(spec)
            return True
        if response.status_code != 200:
            return False
        source = response.json()
        retired = source["retired_at"] is not None
        self.log.add(Change(spec.id, started, time.monotonic(), None if retired else source["active_snapshot_id"],
                            retired))
        self.pending.pop(spec.id)
        if retired:
            self._retire_locally(spec)
        return True

    def _retire_locally(self, spec: SourceSpec) -> None:
        with self.guard:
            if spec in self.live:
                self.live.remove(spec)

    def settle_all(self) -> int:
        """After the load: settle every pending source; returns how many stay unknown."""
        for source_id in list(self.pending):
            with self.locks[source_id]:
                self._settle(self.specs[source_id])
        return len(self.pending)

    def _pick(self) -> SourceSpec | None:
        with self.guard:
            return self.rng.choice(self.live) if self.live else None

    def loop(self, action: str, pause: float, stop: threading.Event) -> None:
        """Repeat `action` (publish, rollback or churn) on random live sources until `stop`."""
        step = {"publish": self._new_snapshot, "rollback": self._rollback, "churn": self._churn}[action]
        while not stop.wait(pause):
            spec = self._pick()
            if spec is None:
                continue
            with self.locks[spec.id]:
                with self.guard:
                    if spec not in self.live:
                        continue
                if self._settle(spec):
                    step(spec)

    def _new_snapshot(self, spec: SourceSpec) -> None:
        docs = self.corpus.size.docs_per_source
        self._publish(spec, frozenset(d for d in range(docs) if self.rng.random() < 0.3))

    def _rollback(self, spec: SourceSpec) -> None:
        started = time.monotonic()
        try:
            with client(self.url, self.keys[spec.owner]) as http:
                history = http.get(f"/v1/sources/{spec.id}/snapshots", params={"limit": 20})
        except httpx.TransportError as error:
            self.log.lost("history", error)
            return
        self.log.reply("history", started, history)
        if history.status_code != 200:
            return
        retained = [s["id"] for s in history.json()["items"] if s["state"] == "superseded"]
        if not retained:
            return
        target = self.rng.choice(retained)
        started = time.monotonic()
        if self._write(spec, "activate", "POST", f"/v1/snapshots/{target}/activate") is not None:
            self.log.add(Change(spec.id, started, time.monotonic(), target))

    def _churn(self, spec: SourceSpec) -> None:
        """Retire a source, then register its content again under a new id (a retired id stays taken)."""
        with self.guard:
            if len(self.live) <= len(self.corpus.sources) // 2:
                return
        started = time.monotonic()
        if self._write(spec, "retire", "DELETE", f"/v1/sources/{spec.id}") is None:
            return
        self.log.add(Change(spec.id, started, time.monotonic(), None, retired=True))
        self._retire_locally(spec)
        with self.guard:
            self.renamed += 1
            number = self.renamed
        self._add(replace(spec, id=f"{spec.id.split('.')[0]}.r{number}"))
