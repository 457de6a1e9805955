"""Retrieval on one corpus and one query set: (a) the bare engine, (b) the retrieve use case in-process,
(c) POST /v1/retrieve over loopback HTTP with 1 and 16 clients. BM25, then hybrid with client vectors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import msgspec
import qdrant_edge as qe
from sqlalchemy import func, select

from bench.corpus import Query
from bench.stats import Series
from freshness.auth.keys import Principal
from freshness.db import session_scope
from freshness.models import Retrieval
from freshness.retrieval.schemas import RetrieveRequest
from freshness.retrieval.service import SCAN_FACTOR, retrieve
from freshness.runtime import Runtime
from freshness.sources.serving import serving_seq
from freshness.vectorstore.base import DENSE, SPARSE, SearchFilter
from freshness.vectorstore.edge import RRF_K, native_filter
from freshness.vectorstore.embedders import bm25_query

TOP_K = 5
WARMUP = 20


def audit_count(runtime: Runtime) -> int:
    with session_scope(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(Retrieval)) or 0


def search_filters(runtime: Runtime) -> dict[str, dict]:
    """task class -> what the service's search filter holds for it: the serving sequence number and the
    source classes the task may use (no publish is in progress while the benchmark queries)."""
    policy = runtime.policy.current
    with session_scope(runtime.sessions) as session:
        seq = serving_seq(session)
    return {name: {"served_at": seq, "source_classes": sorted(task.source_classes or [])}
            for name, task in policy.task_classes.items()}


def floor(runtime: Runtime, queries: list[Query], hybrid: bool = False) -> Series:
    """(a) What an application querying Qdrant Edge directly would do: embed the query, one query call
    with the same filter (the active snapshots) and the same scan depth, payloads included."""
    shard = runtime.store.shard  # type: ignore[attr-defined]
    filters = {task: native_filter(SearchFilter(**where)) for task, where in search_filters(runtime).items()}
    limit = TOP_K * SCAN_FACTOR

    def one(q: Query) -> int:
        vec = bm25_query(q.text)
        sparse = qe.Query.Nearest(qe.SparseVector(vec.indices, vec.values), using=SPARSE)
        flt = filters[q.task_class]
        if hybrid:
            dense = qe.Query.Nearest(q.vector, using=DENSE)
            request = qe.QueryRequest(
                limit=limit, query=qe.Fusion.Rrf(k=RRF_K), filter=flt, with_payload=True,
                prefetches=[qe.Prefetch(limit=limit, query=sparse, filter=flt),
                            qe.Prefetch(limit=limit, query=dense, filter=flt)],
            )
        else:
            request = qe.QueryRequest(limit=limit, query=sparse, filter=flt, with_payload=True)
        return len(shard.query(request))

    return _timed("(a) bare Qdrant Edge" + (" hybrid" if hybrid else ""), queries, one)


def service(runtime: Runtime, principal: Principal, queries: list[Query], hybrid: bool = False) -> Series:
    """(b) The retrieve use case in-process: policy, freshness verdicts, provenance, audit record committed."""

    def one(q: Query) -> int:
        body = RetrieveRequest(query=q.text, task_class=q.task_class, top_k=TOP_K,
                               vector=q.vector if hybrid else None)
        return len(retrieve(runtime, principal, body, None).results)

    before = audit_count(runtime)
    series = _timed("(b) retrieve in-process" + (" hybrid" if hybrid else ""), queries, one)
    series.notes["audit_records"] = audit_count(runtime) - before
    series.notes["answers"] = series.count + WARMUP
    return series


def _timed(name: str, queries: list[Query], one: Callable[[Query], object]) -> Series:
    for q in queries[:WARMUP]:
        one(q)
    series = Series(name)
    served = 0
    started = time.perf_counter()
    for q in queries:
        t0 = time.perf_counter()
        served += one(q)
        series.latencies.append(time.perf_counter() - t0)
    series.wall = time.perf_counter() - started
    series.notes["results_per_query"] = served / max(1, len(queries))
    return series


def _body(q: Query) -> bytes:
    return msgspec.json.encode({"query": q.text, "task_class": q.task_class, "top_k": TOP_K})


def http_one_client(url: str, key: str | None, queries: list[Query], *, path: str = "/v1/retrieve",
                    name: str = "(c) HTTP, 1 client", method: str = "POST") -> Series:
    """(c) one client sending requests one after the other over a kept-alive connection.

    `path` and `method`: the floor's endpoint, or GET /health (no body) for the HTTP stack alone."""
    series = Series(name)
    with httpx.Client(base_url=url, headers=_headers(key), timeout=30) as client:
        for q in queries[:WARMUP]:
            _send(client, method, path, q)
        started = time.perf_counter()
        for q in queries:
            t0 = time.perf_counter()
            response = _send(client, method, path, q)
            series.latencies.append(time.perf_counter() - t0)
            if response.status_code != 200:
                series.errors += 1
        series.wall = time.perf_counter() - started
    series.notes["answers"] = series.count - series.errors + WARMUP
    return series


def _headers(key: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _send(client: httpx.Client, method: str, path: str, q: Query) -> httpx.Response:
    if method == "GET":
        return client.get(path)
    return client.post(path, content=_body(q))


async def _send_async(client: httpx.AsyncClient, method: str, path: str, q: Query) -> httpx.Response:
    if method == "GET":
        return await client.get(path)
    return await client.post(path, content=_body(q))


def http_concurrent(url: str, key: str | None, queries: list[Query], clients: int, total: int, *,
                    path: str = "/v1/retrieve", name: str | None = None, method: str = "POST") -> Series:
    """(c) `clients` concurrent clients, each on its own connection, `total` requests in all."""
    series = Series(name or f"(c) HTTP, {clients} clients")
    headers = _headers(key)

    async def main() -> None:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as client:
            await asyncio.gather(*(_send_async(client, method, path, q) for q in queries[:clients]))
            counter = iter(range(total))

            async def worker() -> None:
                for i in counter:
                    q = queries[i % len(queries)]
                    t0 = time.perf_counter()
                    try:
                        response = await _send_async(client, method, path, q)
                        ok = response.status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    series.latencies.append(time.perf_counter() - t0)
                    if not ok:
                        series.errors += 1

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(clients)))
            series.wall = time.perf_counter() - started

    asyncio.run(main())
    series.notes["answers"] = series.count - series.errors + clients
    return series
