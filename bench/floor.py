"""The floor: the least a Python service can do per audited retrieval on this stack.

A Litestar app served by uvicorn as `freshness serve` is, with one endpoint that embeds the query with
BM25 (qdrant_edge.Bm25, as the service), runs one filtered Qdrant Edge search over the same store, and
commits one hash-chained audit row to SQLite before it answers. No key, no policy, no chunk rows, no
freshness verdicts: what the real service spends beyond this is the cost of those.

`python -m bench.floor --store DIR --filters FILE --audit FILE --port N` runs the app; `FloorServer`
starts it as a child process on a store that no other process holds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import msgspec
import qdrant_edge as qe

from bench.memory import wait_peak_rss
from bench.server import free_port
from bench.workspace import ROOT
from freshness.vectorstore.base import SPARSE, SearchFilter
from freshness.vectorstore.edge import native_filter


class FloorQuery(msgspec.Struct):
    query: str
    task_class: str
    top_k: int = 5


class FloorHit(msgspec.Struct):
    id: str
    score: float
    payload: dict


class FloorAnswer(msgspec.Struct):
    request_id: str
    results: list[FloorHit]


class AuditLog:
    """One SQLite table of hash-chained rows; the head is kept in memory under a lock, so an append is one
    INSERT and one COMMIT (WAL, synchronous=NORMAL: the service's own settings)."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, request_id TEXT NOT NULL, "
                           "content TEXT NOT NULL, prev_hash TEXT NOT NULL, record_hash TEXT NOT NULL)")
        row = self._conn.execute("SELECT seq, record_hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        self._seq, self._head = row if row else (0, "0" * 64)
        self._lock = threading.Lock()

    def append(self, request_id: str, content: bytes) -> None:
        with self._lock:
            digest = hashlib.sha256(self._head.encode() + content).hexdigest()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?)",
                                   (self._seq + 1, request_id, content.decode(), self._head, digest))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._seq, self._head = self._seq + 1, digest

    def count(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT count(*) FROM audit").fetchone()[0]


def create_app(store: Path, filters: dict[str, dict], audit: AuditLog, scan: int) -> object:
    from litestar import Litestar, get, post

    shard = qe.EdgeShard.load(str(store))
    bm25 = qe.Bm25()
    by_task = {task: native_filter(SearchFilter(**where)) for task, where in filters.items()}
    encoder = msgspec.json.Encoder()

    @post("/retrieve", status_code=200, sync_to_thread=True)
    def retrieve(data: FloorQuery) -> FloorAnswer:
        vector = bm25.embed_query(data.query)
        request = qe.QueryRequest(limit=scan, query=qe.Query.Nearest(qe.SparseVector(vector.indices, vector.values),
                                                                     using=SPARSE),
                                  filter=by_task[data.task_class], with_payload=True)
        hits = [FloorHit(str(p.id), float(p.score), dict(p.payload or {})) for p in shard.query(request)][:data.top_k]
        request_id = uuid.uuid4().hex
        answer = FloorAnswer(request_id, hits)
        audit.append(request_id, encoder.encode({"query": data.query, "task_class": data.task_class,
                                                 "served_at": time.time(), "answer": answer}))
        return answer

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @get("/count", sync_to_thread=False)
    def count() -> dict[str, int]:
        return {"records": audit.count()}

    return Litestar([retrieve, health, count], openapi_config=None)


class FloorServer:
    """The floor app in a child process on `store` (which no other process may hold while it runs)."""

    def __init__(self, store: Path, filters: dict[str, dict], work: Path, scan: int) -> None:
        work.mkdir(parents=True, exist_ok=True)
        filters_file = work / "floor-filters.json"
        filters_file.write_text(json.dumps(filters))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "bench.floor", "--store", str(store), "--filters", str(filters_file),
                   "--audit", str(work / "floor-audit.db"), "--port", str(self.port), "--scan", str(scan)]
        self._log = (work / "floor.log").open("wb")
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                self._log.close()
                raise RuntimeError(f"the floor server exited with {self.process.returncode}; see {work / 'floor.log'}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the floor server was not up after 120 s")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.process.pid

    def records(self) -> int:
        return int(httpx.get(self.url + "/count", timeout=10).json()["records"])

    def stop(self) -> None:
        self.process.send_signal(2)
        try:
            wait_peak_rss(self.process, timeout=60)
        finally:
            self._log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--filters", type=Path, required=True, help="JSON: task class -> the search filter's fields")
    parser.add_argument("--audit", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--scan", type=int, default=50)
    args = parser.parse_args()
    import uvicorn

    app = create_app(args.store, json.loads(args.filters.read_text()), AuditLog(args.audit), args.scan)
    # As `freshness serve` runs: uvicorn's h11 parser, no access log line per request.
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info", access_log=False,  # type: ignore[arg-type]
                http="h11")
    os._exit(0)  # the shard is only read: nothing to flush


if __name__ == "__main__":
    main()
