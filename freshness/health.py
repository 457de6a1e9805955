"""Liveness, readiness and metrics: no key needed."""

from __future__ import annotations

import anyio.to_thread
from litestar import Response, get, route
from msgspec import Struct
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from freshness.api import Service, problem, problems
from freshness.db import read_scope, session_scope
from freshness.dbfaults import write_health
from freshness.models import ServiceState
from freshness.runtime import Runtime

PROBE_KEY = "ready_write_probe"
PROBE_SIZE = 1000  # the column's width


class Health(Struct):
    status: str


class Readiness(Struct):
    status: str
    checks: dict[str, str]


@route("/health", http_method=["GET", "HEAD"], summary="The process is up", tags=["health"], sync_to_thread=False)
def health() -> Health:
    return Health(status="ok")


@get("/ready", summary="Database and vector store answer", tags=["health"], responses=problems(503))
async def ready(runtime: Service) -> Response[Readiness]:

    def check() -> dict:
        checks: dict[str, str] = {}
        try:
            # A read transaction: on SQLite it neither waits for nor blocks the one writer.
            with read_scope(runtime.sessions) as session:
                session.execute(text("SELECT 1"))
            checks["database"] = _writes(runtime)
        except Exception as exc:  # any failure means not ready
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            runtime.store.ping()
            checks["store"] = "ok"
            checks["points_not_indexed"] = str(runtime.store.unindexed_count())
        except Exception as exc:
            checks["store"] = f"error: {type(exc).__name__}"
        return checks

    checks = await anyio.to_thread.run_sync(check)
    if checks["database"] != "ok" or checks["store"] != "ok":
        failing = [name for name in ("database", "store") if checks[name] != "ok"]
        detail = "; ".join(f"{name}: {checks[name].removeprefix('error: ')}" for name in failing)
        return problem(503, "not-ready", "Not ready", detail, "/ready", checks=checks)
    return Response(Readiness(status="ready", checks=checks))


def _writes(runtime: Runtime) -> str:
    """`ok`, or why writes fail. A database that answers reads can still refuse every write (disk
    full, read-only): once a write has been refused, a real write is tried here, and readiness
    comes back only when one commits again. While writes succeed, nothing is written here."""
    health = write_health(runtime.engine)
    if not health.refusing:
        return "ok"
    try:
        with session_scope(runtime.sessions) as session:
            # As wide as the column allows: like an audit record, it needs room in the database file.
            stamp = runtime.clock.now().isoformat()
            session.merge(ServiceState(key=PROBE_KEY, value=(stamp + " " + "-" * PROBE_SIZE)[:PROBE_SIZE]))
    except Exception as exc:  # the probe is refused like the writes before it
        health.refused(exc)
        return f"error: writes refused: {health.reason}"
    health.succeeded()
    return "ok"


@get("/metrics", summary="Prometheus metrics", tags=["health"], media_type=CONTENT_TYPE_LATEST)
async def metrics(runtime: Service) -> Response[bytes]:
    body = await anyio.to_thread.run_sync(runtime.metrics.render)
    # The type already names its charset: set the header whole, or one more `charset` would be appended.
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})
