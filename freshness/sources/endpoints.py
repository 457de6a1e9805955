"""HTTP endpoints for sources and snapshots (SPEC §4).

Bodies and query parameters are checked inside `work`, after the key and its role: a caller without a
valid key is told so, not what was wrong with its request.
"""

from __future__ import annotations

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath

from freshness.api import ANY_KEY, call, in_read, in_transaction
from freshness.auth.keys import Principal, Role
from freshness.refresh.reach import SourceReach
from freshness.runtime import Runtime
from freshness.sources import publish as publishing
from freshness.sources import service, snapshots
from freshness.sources.schemas import ActivateRequest, PublishRequest, SourceCreate, SourceUpdate
from freshness.sources.views import snapshot_detail, snapshot_out, source_out
from freshness.wire import decode_body, parse_limit

WRITERS = (Role.PUBLISHER,)


def _page(items: list, limit: int, cursor: str | None) -> dict:
    return {"items": items[:limit], "next_cursor": cursor}


class SourceController(Controller):
    path = "/sources"
    tags = ["sources"]

    @post("/", status_code=201, summary="Register a source")
    async def register(self, request: Request) -> Response:
        raw = await request.body()

        def work(rt: Runtime, who: Principal):
            body = decode_body(raw, SourceCreate)

            def tx(session):
                source = service.register_source(session, who, body, rt.policy.current, rt.clock.now(),
                                                 SourceReach.of(rt.settings))
                return source_out(source, None, rt.policy.current, rt.clock.now())

            return in_transaction(rt, tx)

        return Response(await call(request, WRITERS, work), status_code=201)

    @get("/", summary="List sources")
    async def list_sources(self, request: Request) -> dict:
        params = request.query_params
        include_retired = (params.get("include_retired") or "false").lower() in ("1", "true", "yes")

        def work(rt: Runtime, who: Principal):
            limit = parse_limit(params.get("limit"))
            position = rt.cursors.decode(params.get("cursor"))

            def tx(session):
                rows = service.list_sources(
                    session,
                    owner=params.get("owner"),
                    source_class=params.get("source_class"),
                    include_retired=include_retired,
                    after=(position or {}).get("after"),
                    limit=limit,
                )
                now = rt.clock.now()
                items = [source_out(s, service.active_snapshot(session, s), rt.policy.current, now) for s in rows]
                more = len(rows) > limit
                cursor = rt.cursors.encode({"after": rows[limit - 1].id}) if more else None
                return _page(items, limit, cursor)

            return in_read(rt, tx)

        return await call(request, ANY_KEY, work)

    @get("/{source_id:str}", summary="A source with its active snapshot and freshness")
    async def get_source(self, request: Request, source_id: FromPath[str]) -> Response:
        def work(rt: Runtime, who: Principal):
            def tx(session):
                source = service.get_source(session, source_id)
                return source_out(source, service.active_snapshot(session, source), rt.policy.current, rt.clock.now())

            return in_read(rt, tx)

        return Response(await call(request, ANY_KEY, work))

    @patch("/{source_id:str}", summary="Change title, uri, refresh_interval, tags or metadata")
    async def update_source(self, request: Request, source_id: FromPath[str]) -> Response:
        raw = await request.body()

        def work(rt: Runtime, who: Principal):
            body = decode_body(raw, SourceUpdate)

            def tx(session):
                source = service.update_source(session, who, source_id, body, rt.store, rt.clock.now(),
                                               SourceReach.of(rt.settings))
                return source_out(source, service.active_snapshot(session, source), rt.policy.current, rt.clock.now())

            return in_transaction(rt, tx)

        return Response(await call(request, WRITERS, work))

    @delete("/{source_id:str}", status_code=200, summary="Retire a source: it stops serving at once")
    async def retire_source(self, request: Request, source_id: FromPath[str]) -> Response:
        def work(rt: Runtime, who: Principal):
            def tx(session):
                source = service.retire_source(session, who, source_id, rt.clock.now())
                return source_out(source, None, rt.policy.current, rt.clock.now())

            return in_transaction(rt, tx)

        return Response(await call(request, WRITERS, work), status_code=200)

    @post("/{source_id:str}/snapshots", summary="Publish a snapshot")
    async def publish(self, request: Request, source_id: FromPath[str]) -> Response:
        raw = await request.body()
        result = await call(
            request, WRITERS, lambda rt, who: publishing.publish(rt, who, source_id, decode_body(raw, PublishRequest))
        )
        return Response(result, status_code=201 if result.changed else 200)

    @get("/{source_id:str}/snapshots", summary="Snapshot history, newest first")
    async def history(self, request: Request, source_id: FromPath[str]) -> dict:
        params = request.query_params

        def work(rt: Runtime, who: Principal):
            limit = parse_limit(params.get("limit"))
            position = rt.cursors.decode(params.get("cursor"))

            def tx(session):
                rows = snapshots.history(session, source_id, (position or {}).get("before"), limit)
                more = len(rows) > limit
                cursor = rt.cursors.encode({"before": rows[limit - 1].id}) if more else None
                return _page([snapshot_out(s) for s in rows], limit, cursor)

            return in_read(rt, tx)

        return await call(request, ANY_KEY, work)

    @post("/{source_id:str}/verify", status_code=200, summary="Confirm the active content is still current")
    async def verify(self, request: Request, source_id: FromPath[str]) -> Response:
        def work(rt: Runtime, who: Principal):
            def tx(session):
                return snapshot_out(snapshots.verify(session, who, source_id, rt.clock.now()))

            return in_transaction(rt, tx)

        return Response(await call(request, WRITERS, work), status_code=200)


class SnapshotController(Controller):
    path = "/snapshots"
    tags = ["snapshots"]

    @get("/{snapshot_id:str}", summary="A snapshot with its documents")
    async def get_snapshot(self, request: Request, snapshot_id: FromPath[str]) -> Response:
        def work(rt: Runtime, who: Principal):
            def tx(session):
                snap = snapshots.get_snapshot(session, snapshot_id)
                return snapshot_detail(snap, snapshots.snapshot_documents(session, snapshot_id))

            return in_read(rt, tx)

        return Response(await call(request, ANY_KEY, work))

    @post("/{snapshot_id:str}/activate", status_code=200, summary="Roll back or forward to a retained snapshot")
    async def activate(self, request: Request, snapshot_id: FromPath[str]) -> Response:
        raw = await request.body()

        def work(rt: Runtime, who: Principal):
            body = decode_body(raw, ActivateRequest) if raw.strip() else ActivateRequest()

            def tx(session):
                snap = snapshots.activate(session, who, snapshot_id, rt.clock.now(), body.source_id)
                return snapshot_out(snap)

            return in_transaction(rt, tx)

        return Response(await call(request, WRITERS, work), status_code=200)
