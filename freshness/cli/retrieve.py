"""`freshness retrieve QUERY --task-class T`: what an application asking this would be served, and recorded.

A real retrieval: judged by the policy, recorded in the audit log under a request id. In-process it
searches the embedded store, which a running `serve` holds; then the command says so in one line and
points to FRESHNESS_API_URL, which sends it through the service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.table import Table

from freshness.cli.common import (
    OPERATOR,
    convert,
    emit_json,
    err,
    fail,
    fmt_age,
    handled,
    json_option,
    out,
    read_settings,
)
from freshness.cli.remote import api_options, service, store_held
from freshness.errors import StoreLocked

if TYPE_CHECKING:
    from freshness.retrieval.schemas import RetrieveRequest, RetrieveResponse


@click.command()
@click.argument("query")
@click.option("--task-class", required=True, help="A task class of the policy, e.g. refund_decision.")
@click.option("--top-k", type=int, default=5, show_default=True, help="At most this many chunks (1-100).")
@click.option("--source", "source_ids", multiple=True, help="Only this source (repeatable).")
@click.option("--source-class", "source_classes", multiple=True, help="Only this source class (repeatable).")
@click.option("--tag", "tags", multiple=True, help="Only sources with this tag (repeatable; any one matches).")
@click.option("--request-id", default=None, help="Record the retrieval under this id (default: a new one).")
@api_options
@json_option
@handled
def retrieve(query: str, task_class: str, top_k: int, source_ids: tuple[str, ...], source_classes: tuple[str, ...],
             tags: tuple[str, ...], request_id: str | None, api_url: str | None, key: str | None,
             as_json: bool) -> None:
    """Retrieve context for QUERY under the freshness policy of a task class, and record it."""
    from freshness.retrieval.schemas import RetrieveRequest

    given = {"source_ids": list(source_ids), "source_classes": list(source_classes), "tags": list(tags)}
    filters = {name: values for name, values in given.items() if values} or None
    body = convert(RetrieveRequest, {"query": query, "task_class": task_class, "top_k": top_k, "filters": filters,
                                     "request_id": request_id})
    if api_url:
        with service(api_url, key) as client:
            answer = client.retrieve(query, task_class, top_k=top_k, filters=body.filters, request_id=request_id)
    else:
        answer = _in_process(body)
    if as_json:
        emit_json(answer)
        return
    _print(answer)


def _in_process(body: RetrieveRequest) -> RetrieveResponse:
    from freshness.retrieval.service import answer_request
    from freshness.runtime import open_runtime

    try:
        runtime = open_runtime(read_settings())
    except StoreLocked:
        fail(store_held("freshness retrieve"))
    try:
        return answer_request(runtime, OPERATOR, body, None, runtime.policy.current).response
    finally:
        runtime.close()


def _print(answer: RetrieveResponse) -> None:
    out.print(f"request {answer.request_id}  status {answer.status}  task {answer.task_class}  "
              f"policy {answer.policy_version}", highlight=False)
    table = Table("rank", "score", "source", "snapshot", "version", "document", "freshness", "age", "text")
    for r in answer.results:
        table.add_row(str(r.rank), f"{r.score:.3f}", r.source_id, r.snapshot_id, r.snapshot_version or "",
                      r.document_id, r.freshness, fmt_age(r.age_seconds), r.text[:80])
    out.print(table)
    if answer.rejected:
        rejected = Table("rejected chunk", "source", "snapshot", "reason", "age", "max age")
        for c in answer.rejected:
            rejected.add_row(c.chunk_id, c.source_id, c.snapshot_id, c.reason, fmt_age(c.age_seconds),
                             fmt_age(c.max_age_seconds))
        out.print(rejected)
    if answer.status == "insufficient_context":
        err.print("insufficient context: too few fresh chunks passed the policy; an application takes its "
                  "fallback here", highlight=False, soft_wrap=True)
