"""GET /v1/audit/retrievals[/{request_id}], /verify, /checkpoint and /public-key: auditors and admins
(the public key: any key).

Every one of them only reads: a record and a search in the request's read transaction, verify and
checkpoint in their own short reads (freshness.audit.verify). None takes SQLite's write lock, so none
waits for, or holds up, the audit writes of retrievals.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get
from litestar.connection import ASGIConnection
from litestar.datastructures import ResponseHeader
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import PathParameter, QueryParameter
from sqlalchemy.orm import Session

from freshness.api import CurrentPolicy, ReadSession, Service, ServiceClock, allow, problems
from freshness.audit import service
from freshness.audit.checkpoint import checkpoint_from, take_checkpoint, verify_with_checkpoint
from freshness.audit.schemas import (
    AuditPage,
    AuditRecord,
    ChainReport,
    Checkpoint,
    ExportFormat,
    PublicKey,
    RetrievalStatus,
)
from freshness.audit.signing import Signer
from freshness.audit.verify import verify_chain
from freshness.auth.keys import Role
from freshness.errors import InvalidInput, Unavailable
from freshness.models import Retrieval
from freshness.runtime import Runtime
from freshness.timeparse import EXAMPLE, parse_timestamp

AUDITORS = allow(Role.AUDITOR)
PAGE_MAX = 500
EXPORT_MAX = 10_000
NDJSON = "application/x-ndjson"
CSV = "text/csv"
CSV_COLUMNS = ["request_id", "served_at", "task_class", "status", "policy_version", "results", "rejected",
               "snapshot_ids", "record_hash"]
NEXT_CURSOR = ResponseHeader(name="X-Next-Cursor", value="", documentation_only=True,
                             description="The cursor of the next page, as in `next_cursor`; absent on the last page")

MAX_SEQ = 2**63 - 1  # the largest seq a BIGINT column holds; a larger one is a 422, not a database error


@dataclass
class _AuditOperation(Operation):
    """Litestar lists a 400 for every operation with parameters; these GETs never answer one (a bad
    parameter is a 422), and a generated client should not expect it."""

    def __post_init__(self) -> None:
        if self.responses:
            self.responses.pop("400", None)


@dataclass
class _SearchOperation(_AuditOperation):
    """The search's 200 is also a JSON Lines or CSV export, by `format`."""

    def __post_init__(self) -> None:
        super().__post_init__()
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse) and ok.content is not None:
            ok.content[NDJSON] = OpenAPIMediaType(schema=Schema(
                type=OpenAPIType.STRING,
                description="format=jsonl: one AuditRecord per line, as stored (what `freshness audit export` prints)"))
            ok.content[CSV] = OpenAPIMediaType(schema=Schema(
                type=OpenAPIType.STRING, description=f"format=csv: a header line, then {', '.join(CSV_COLUMNS)}"))


async def _declared_query_only(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Refuse a query parameter the handler does not declare (with `QueryParameter`): a misspelt filter
    would widen the search without a word. A guard, so that a caller without a valid key learns only that
    (a coroutine, so that Litestar runs it in place rather than on a worker thread)."""
    known = {field.kwarg_definition.name or name
             for name, field in handler.parsed_fn_signature.parameters.items()
             if isinstance(field.kwarg_definition, QueryParameter)}
    unknown = sorted(set(connection.query_params) - known)
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}; use {', '.join(sorted(known))}",
                           field=unknown[0])


def _not_empty(name: str, value: str | None) -> None:
    if value == "":
        raise InvalidInput(f"{name} is empty; give a value, or leave {name} out to search without it", field=name)


def _moment(raw: str | None, name: str) -> datetime | None:
    return None if raw is None else parse_timestamp(raw, name)


def _moment_parameter(description: str) -> Any:
    return QueryParameter(description=f"{description} (RFC 3339 with a time zone, such as {EXAMPLE})",
                          format="date-time")


def _signer(runtime: Runtime) -> Signer:
    if runtime.signer is None:
        raise Unavailable("no audit signing key is loaded; restart the service")
    return runtime.signer


def _id_filter(description: str) -> Any:
    return QueryParameter(description=description, schema_extra={"minLength": 1})


def _jsonl(reads: Session, rows: list[Retrieval]) -> bytes:
    return b"".join(msgspec.json.encode(service.record_view(reads, r)) + b"\n" for r in rows)


def _csv(rows: list[Retrieval]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        item = msgspec.to_builtins(service.summary(r))
        item["snapshot_ids"] = " ".join(item["snapshot_ids"])
        writer.writerow(item)
    return buffer.getvalue()


class AuditController(Controller):
    path = "/audit"
    tags = ["audit"]

    @get("/retrievals/{request_id:str}", summary="One audit record with full provenance", guards=[AUDITORS],
         sync_to_thread=True, responses=problems(401, 403, 404, 409, 422, 503), operation_class=_AuditOperation)
    def show(self, reads: ReadSession,
             request_id: Annotated[str, PathParameter(description="The request id the retrieval answered with")],
             ) -> AuditRecord:
        """As it was served: ages and `verified_at` at serve time; each chunk's snapshot also with its state now."""
        return service.audit_record(service.get_record(reads, request_id))

    @get("/retrievals", summary="Search audit records; format=jsonl or csv exports them",
         guards=[AUDITORS, _declared_query_only], sync_to_thread=True, responses=problems(401, 403, 422, 503),
         response_headers=[NEXT_CURSOR], operation_class=_SearchOperation)
    def search(
        self,
        reads: ReadSession,
        policy: CurrentPolicy,
        runtime: Service,
        snapshot_id: Annotated[str | None, _id_filter("Only requests that were served, or refused, this snapshot")]
        = None,
        source_id: Annotated[str | None, _id_filter("Only requests that were served, or refused, this source")]
        = None,
        task_class: Annotated[str | None, _id_filter(
            "A task class of the policy, or one some record was served under")] = None,
        status: Annotated[RetrievalStatus | None, QueryParameter(description="The answer's status")] = None,
        since: Annotated[str | None, _moment_parameter("Served at or after this moment")] = None,
        until: Annotated[str | None, _moment_parameter("Served at or before this moment")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=EXPORT_MAX, description=(
            f"Records per page: at most {PAGE_MAX} for json, {EXPORT_MAX} for jsonl and csv"))] = 100,
        cursor: Annotated[str | None, QueryParameter(description="`next_cursor` of the previous page")] = None,
        # Named as on the wire: an alias would put the Python name in a 422's `field`.
        format: Annotated[ExportFormat, QueryParameter(description=(
            "json: a page of summaries; jsonl: whole records, one per line; csv: summaries"))] = "json",
    ) -> Response[AuditPage]:
        """Newest first. `snapshot_id` answers "every request that was served (or refused) snapshot X"."""
        for name, value in (("snapshot_id", snapshot_id), ("source_id", source_id), ("task_class", task_class)):
            _not_empty(name, value)
        if format == "json" and limit > PAGE_MAX:
            raise InvalidInput(f"limit must be from 1 to {PAGE_MAX} for format=json ({EXPORT_MAX} for jsonl and "
                               f"csv), got {limit}", field="limit")
        position = runtime.cursors.decode(cursor) or {}
        if task_class:
            service.check_task_class(reads, policy, task_class)
        rows = service.list_records(reads, snapshot_id=snapshot_id, source_id=source_id, task_class=task_class,
                                    status=status, since=_moment(since, "since"), until=_moment(until, "until"),
                                    before_seq=position.get("before"), limit=limit)
        more, rows = len(rows) > limit, rows[:limit]
        next_cursor = runtime.cursors.encode({"before": rows[-1].seq}) if more else None
        headers = {"X-Next-Cursor": next_cursor} if next_cursor else {}
        if format == "jsonl":
            return Response(_jsonl(reads, rows), media_type=NDJSON, headers=headers)  # type: ignore[arg-type]  # Response[AuditPage] documents the json body; jsonl/csv are raw
        if format == "csv":
            return Response(_csv(rows), media_type=CSV, headers=headers)  # type: ignore[arg-type]  # Response[AuditPage] documents the json body; jsonl/csv are raw
        return Response(AuditPage(items=[service.summary(r) for r in rows], next_cursor=next_cursor),
                        headers=headers)

    @get("/verify", summary="Check the hash chain of the audit log, and a checkpoint when one is given",
         guards=[AUDITORS], sync_to_thread=True, responses=problems(401, 403, 422, 503),
         operation_class=_AuditOperation)
    def verify(
        self,
        runtime: Service,
        # The bound again in schema_extra: Litestar leaves it out of an optional parameter's schema.
        seq: Annotated[int | None, QueryParameter(ge=0, le=MAX_SEQ, schema_extra={"minimum": 0, "maximum": MAX_SEQ},
                                                  description="The checkpoint's seq")] = None,
        record_hash: Annotated[str | None, QueryParameter(description="The checkpoint's record_hash")] = None,
        signed_at: Annotated[str | None, QueryParameter(description="The checkpoint's signed_at, as it was given")]
        = None,
        key_id: Annotated[str | None, QueryParameter(description="The checkpoint's key_id")] = None,
        signature: Annotated[str | None, QueryParameter(description="The checkpoint's signature")] = None,
    ) -> ChainReport:
        """With a checkpoint's five fields (all or none), also whether the log still holds it; `ok` is false
        when it does not. The log is read a page at a time, each page in its own short read."""
        checkpoint = checkpoint_from({"seq": None if seq is None else str(seq), "record_hash": record_hash,
                                      "signed_at": signed_at, "key_id": key_id, "signature": signature})
        if checkpoint is None:
            report = verify_chain(runtime.sessions)
        else:
            report = verify_with_checkpoint(runtime.sessions, _signer(runtime), checkpoint)
        return msgspec.convert(report, ChainReport)

    @get("/checkpoint", summary="The chain head signed with the service's Ed25519 key", guards=[AUDITORS],
         sync_to_thread=True, responses=problems(401, 403, 409, 503))
    def checkpoint(self, runtime: Service, clock: ServiceClock) -> Checkpoint:
        """Keep the answer outside this service; `GET /v1/audit/verify` with it shows a truncated, wiped or
        rewritten log. A 409 when the head no longer matches its record: the log is already broken."""
        return take_checkpoint(runtime.sessions, _signer(runtime), clock.now())

    @get("/public-key", summary="The public key that signs checkpoints (PEM)", sync_to_thread=False,
         responses=problems(401, 503))
    def public_key(self, runtime: Service) -> PublicKey:
        signer = _signer(runtime)
        return PublicKey(key_id=signer.key_id, algorithm="Ed25519", public_key=signer.public_pem)
