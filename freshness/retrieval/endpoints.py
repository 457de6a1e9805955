"""POST /v1/retrieve."""

from __future__ import annotations

import time
from typing import Annotated

from litestar import Response, post
from litestar.datastructures import ResponseHeader
from litestar.params import Body, HeaderParameter

from freshness.api import JSONBody, allow, problems
from freshness.api.deps import Context
from freshness.auth.keys import Role
from freshness.retrieval.schemas import REQUEST_ID_PATTERN, REQUEST_ID_RULE, RetrieveRequest, RetrieveResponse
from freshness.retrieval.service import answer_request

# The pattern is checked by the use case (resolve_request_id), which names the header in its answer.
RequestIdHeader = Annotated[str | None, HeaderParameter(
    name="X-Request-ID", required=False,
    schema_extra={"oneOf": None, "type": "string", "pattern": REQUEST_ID_PATTERN, "minLength": 1, "maxLength": 128},
    description=f"The request id ({REQUEST_ID_RULE}); when `request_id` is in the body too, both must agree",
)]


@post("/retrieve", status_code=200, summary="Retrieve context for a task", tags=["retrieval"],
      guards=[allow(Role.READER)], dto=JSONBody[RetrieveRequest], return_dto=None, sync_to_thread=True,
      responses=problems(400, 401, 403, 409, 413, 422, 503),
      response_headers=[ResponseHeader(name="X-Request-ID", documentation_only=True,
                                       description="The request id the answer was recorded under")])
def retrieve_endpoint(data: Annotated[RetrieveRequest, Body()], context: Context,
                      request_id: RequestIdHeader = None) -> Response[RetrieveResponse]:
    """Judged under the policy in force when the request arrived (`context.policy`); the answer leaves only once
    its audit record has committed (503 with no chunks when it cannot be written)."""
    started = time.perf_counter()
    runtime = context.runtime
    answered = answer_request(runtime, context.principal, data, request_id, context.policy)
    response = answered.response
    withheld = [(w.source_class, w.rejected.reason) for w in answered.withheld]
    runtime.metrics.observe_retrieval(response.task_class, response.status, withheld, time.perf_counter() - started)
    return Response(response, headers={"X-Request-ID": response.request_id})
