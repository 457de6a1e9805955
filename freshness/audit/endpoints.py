"""GET /v1/audit/retrievals[/{request_id}], /verify, /checkpoint and /public-key.

Every one of them only reads, so each runs in `read_scope`: on SQLite it never takes the write lock
that the audit writes of retrievals queue for.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from litestar import Controller, Request, Response, get
from litestar.params import FromPath, FromQuery

from freshness.api import ANY_KEY, call
from freshness.audit import service
from freshness.audit.checkpoint import checkpoint_from, take_checkpoint, verify_with_checkpoint
from freshness.audit.schemas import Checkpoint, PublicKey
from freshness.audit.verify import verify_chain
from freshness.auth.keys import Role
from freshness.db import read_scope
from freshness.errors import InvalidInput
from freshness.wire import parse_limit

AUDITORS = (Role.AUDITOR,)
CSV_COLUMNS = ["request_id", "served_at", "task_class", "status", "policy_version", "results", "rejected",
               "snapshot_ids", "record_hash"]


def _time(params, name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an RFC 3339 timestamp such as 2026-11-27T10:00:00Z", field=name) from exc
    if value.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone (Z or +00:00)", field=name)
    return value


class AuditController(Controller):
    path = "/audit"
    tags = ["audit"]

    @get("/retrievals/{request_id:str}", summary="One audit record with full provenance")
    async def show(self, request: Request, request_id: FromPath[str]) -> dict:
        def work(rt, who):
            with read_scope(rt.sessions) as session:
                return service.get_record(session, request_id)

        return await call(request, AUDITORS, work)

    @get("/retrievals", summary="Search audit records; format=jsonl or csv exports them")
    async def search(self, request: Request) -> Response:
        params = request.query_params
        fmt = params.get("format", "json")

        def work(rt, who):
            # Checked after the key, so that a caller without one learns only that.
            known = {"snapshot_id", "source_id", "task_class", "status", "since", "until", "limit", "cursor", "format"}
            unknown = sorted(set(params) - known)
            if unknown:
                raise InvalidInput(f"unknown query parameter {unknown[0]!r}; use {', '.join(sorted(known))}",
                                   field=unknown[0])
            if fmt not in ("json", "jsonl", "csv"):
                raise InvalidInput("format must be json, jsonl or csv", field="format")
            limit = parse_limit(params.get("limit"), default=100, maximum=10_000 if fmt != "json" else 500)
            since, until = _time(params, "since"), _time(params, "until")
            position = rt.cursors.decode(params.get("cursor"))

            def tx(session):
                rows = service.list_records(
                    session, snapshot_id=params.get("snapshot_id"), source_id=params.get("source_id"),
                    task_class=params.get("task_class"), status=params.get("status"), since=since, until=until,
                    before_seq=(position or {}).get("before"), limit=limit,
                )
                more = len(rows) > limit
                rows = rows[:limit]
                cursor = rt.cursors.encode({"before": rows[-1].seq}) if more else None
                if fmt == "jsonl":
                    return "".join(json.dumps(service.record_view(session, r)) + "\n" for r in rows), cursor
                if fmt == "csv":
                    buffer = io.StringIO()
                    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
                    writer.writeheader()
                    for r in rows:
                        item = service.summary(r)
                        item["snapshot_ids"] = " ".join(item["snapshot_ids"])
                        writer.writerow(item)
                    return buffer.getvalue(), cursor
                return {"items": [service.summary(r) for r in rows], "next_cursor": cursor}, cursor

            with read_scope(rt.sessions) as session:
                return tx(session)

        body, cursor = await call(request, AUDITORS, work)
        headers = {"X-Next-Cursor": cursor} if cursor else {}
        if fmt == "jsonl":
            return Response(body, media_type="application/x-ndjson", headers=headers)
        if fmt == "csv":
            return Response(body, media_type="text/csv", headers=headers)
        return Response(body)

    @get("/verify", summary="Check the hash chain of the audit log, and a checkpoint when one is given")
    async def verify(
        self,
        request: Request,
        seq: FromQuery[str | None] = None,
        record_hash: FromQuery[str | None] = None,
        signed_at: FromQuery[str | None] = None,
        key_id: FromQuery[str | None] = None,
        signature: FromQuery[str | None] = None,
    ) -> dict:
        """`{"ok", "records_checked", "first_bad"}`; with a checkpoint's five fields as query parameters, also
        `"checkpoint": {"seq", "record_hash", "ok", "reason"}`, and `ok` is false when the checkpoint fails."""
        given = {"seq": seq, "record_hash": record_hash, "signed_at": signed_at, "key_id": key_id,
                 "signature": signature}

        def work(rt, who):
            # Checked after the key, so that a caller without one learns only that.
            checkpoint = checkpoint_from(given)
            if checkpoint is None:
                return verify_chain(rt.sessions)
            return verify_with_checkpoint(rt.sessions, rt.signer, checkpoint)

        return await call(request, AUDITORS, work)

    @get("/checkpoint", summary="The chain head signed with the service's Ed25519 key")
    async def checkpoint(self, request: Request) -> Checkpoint:
        """Keep the answer outside this service; `GET /v1/audit/verify` with it shows a truncated,
        wiped or rewritten log."""
        return await call(request, AUDITORS, lambda rt, who: take_checkpoint(rt.sessions, rt.signer, rt.clock.now()))

    @get("/public-key", summary="The public key that signs checkpoints (PEM)")
    async def public_key(self, request: Request) -> PublicKey:
        return await call(request, ANY_KEY, lambda rt, who: PublicKey(
            key_id=rt.signer.key_id, algorithm="Ed25519", public_key=rt.signer.public_pem))
