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
    body = decode_body(await request.body(), RetrieveRequest)
    header_id = request.headers.get("x-request-id")
    response = await call(request, (Role.READER,), lambda rt, who: retrieve(rt, who, body, header_id))
    return Response(response, headers={"X-Request-ID": response.request_id})
