"""POST /v1/retrieve."""

from __future__ import annotations

import time

from litestar import Request, Response, post
from sqlalchemy import select

from freshness.api import call, runtime_of
from freshness.auth.keys import Role
from freshness.db import session_scope
from freshness.models import Source
from freshness.retrieval.schemas import RetrieveRequest, RetrieveResponse
from freshness.retrieval.service import retrieve
from freshness.runtime import Runtime
from freshness.wire import decode_body


@post("/retrieve", status_code=200, summary="Retrieve context for a task", tags=["retrieval"])
async def retrieve_endpoint(request: Request) -> Response:
    started = time.perf_counter()
    raw = await request.body()
    header_id = request.headers.get("x-request-id")
    # The key is checked before the body, so a caller without one learns that first.
    response = await call(
        request, (Role.READER,), lambda rt, who: retrieve(rt, who, decode_body(raw, RetrieveRequest), header_id)
    )
    _observe(runtime_of(request), response, time.perf_counter() - started)
    return Response(response, headers={"X-Request-ID": response.request_id})


def _observe(runtime: Runtime, response: RetrieveResponse, seconds: float) -> None:
    withheld = []
    if response.rejected:
        classes = _source_classes(runtime, {r.source_id for r in response.rejected})
        withheld = [(classes.get(r.source_id, "unknown"), r.reason) for r in response.rejected]
    runtime.metrics.observe_retrieval(response.task_class, response.status, withheld, seconds)


def _source_classes(runtime: Runtime, source_ids: set[str]) -> dict[str, str]:
    """A source's class never changes and its id is never reused, so the answer can be kept."""
    known: dict[str, str] = runtime.extras.setdefault("source_classes", {})
    missing = source_ids - known.keys()
    if missing:
        with session_scope(runtime.sessions) as session:
            known.update(session.execute(select(Source.id, Source.source_class).where(Source.id.in_(missing))).all())
    return {sid: known[sid] for sid in source_ids if sid in known}
