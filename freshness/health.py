"""Liveness, readiness and metrics: no key needed."""

from __future__ import annotations

import anyio.to_thread
from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from freshness.api import problem, runtime_of


@get("/health", summary="The process is up", tags=["health"])
async def health() -> dict:
    return {"status": "ok"}


@get("/ready", summary="Database and vector store answer", tags=["health"])
async def ready(request: Request) -> Response:
    runtime = runtime_of(request)

    def check() -> dict:
        checks: dict[str, str] = {}
        try:
            with runtime.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
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
        return problem(503, "not-ready", "Not ready", f"not reachable: {', '.join(failing)}", "/ready", checks=checks)
    return Response({"status": "ready", "checks": checks})


@get("/metrics", summary="Prometheus metrics", tags=["health"], media_type=CONTENT_TYPE_LATEST)
async def metrics(request: Request) -> Response:
    runtime = runtime_of(request)
    body = await anyio.to_thread.run_sync(runtime.metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
