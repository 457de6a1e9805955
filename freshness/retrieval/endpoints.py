"""POST /v1/retrieve."""

from __future__ import annotations

from litestar import Request, Response, post

from freshness.api import call
from freshness.auth.keys import Role
from freshness.retrieval.schemas import RetrieveRequest
from freshness.retrieval.service import retrieve
from freshness.wire import decode_body


@post("/v1/retrieve", status_code=200, summary="Retrieve context for a task", tags=["retrieval"])
async def retrieve_endpoint(request: Request) -> Response:
    raw = await request.body()
    header_id = request.headers.get("x-request-id")
    # The key is checked before the body, so a caller without one learns that first.
    response = await call(
        request, (Role.READER,), lambda rt, who: retrieve(rt, who, decode_body(raw, RetrieveRequest), header_id)
    )
    return Response(response, headers={"X-Request-ID": response.request_id})
