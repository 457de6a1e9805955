"""HTTP endpoints for sources and snapshots (SPEC §4).

Reads run in a read transaction, changes in one write transaction committed before the answer.
Publishing manages its own transactions (freshness.sources.publish): the content is indexed between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from litestar import Controller, Response, delete, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation, RequestBody
from litestar.params import Body, FromPath, QueryParameter
from sqlalchemy.orm import Session

from freshness.api import (
    Caller,
    CurrentPolicy,
    JSONBody,
    ReadSession,
    Service,
    ServiceClock,
    ServiceSettings,
    Store,
    WriteSession,
    allow,
    problems,
)
from freshness.auth.keys import Role
from freshness.refresh.reach import SourceReach
from freshness.sources import publish as publishing
from freshness.sources import service, serving, snapshots
from freshness.sources.schemas import (
    ActivateRequest,
    PublishRequest,
    PublishResult,
    SnapshotDetail,
    SnapshotOut,
    SnapshotPage,
    SourceCreate,
    SourceOut,
    SourcePage,
    SourceUpdate,
)
from freshness.sources.views import snapshot_detail, snapshot_out, source_out

WRITERS = [allow(Role.PUBLISHER)]  # and admins; a publisher only for its own owner's sources

Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Items per page")]
Cursor = Annotated[str | None, QueryParameter(description="`next_cursor` of the previous page")]
Owner = Annotated[str | None, QueryParameter(min_length=1, description="Only this owner's sources")]
ClassFilter = Annotated[str | None, QueryParameter(description="Only sources of this class; one the policy defines")]

# Every operation here has a path or query parameter, so Litestar would list its own 400 as
# application/json: the problem details replace it.
CHANGE_PROBLEMS = (400, 401, 403, 404, 409, 413, 422, 503)

UNCHANGED = ResponseSpec(
    data_container=PublishResult, generate_examples=False,
    description="The content equals the active snapshot's: its verified_at is raised, nothing is re-embedded",
)


@dataclass
class OptionalBody(Operation):
    """An operation whose body may be left out: Litestar marks every request body required."""

    def __post_init__(self) -> None:
        if self.request_body is not None:
            # Litestar builds a RequestBody here, never a Reference
            cast(RequestBody, self.request_body).required = False


class SourceController(Controller):
    path = "/sources"
    tags = ["sources"]

    @post("/", status_code=201, summary="Register a source", guards=WRITERS, dto=JSONBody[SourceCreate],
          return_dto=None, sync_to_thread=True, responses=problems(400, 401, 403, 409, 413, 422, 503))
    def register(self, data: Annotated[SourceCreate, Body()], principal: Caller, writes: WriteSession,
                 policy: CurrentPolicy, clock: ServiceClock, settings: ServiceSettings) -> SourceOut:
        now = clock.now()
        reach = SourceReach.of(settings)

        def register(session: Session) -> SourceOut:
            source = service.register_source(session, principal, data, policy, now, reach)
            return source_out(source, None, policy, now)

        return writes(register)

    @get("/", summary="List sources, by id", sync_to_thread=True, responses=problems(400, 401, 422, 503))
    def list_sources(
        self,
        reads: ReadSession,
        policy: CurrentPolicy,
        clock: ServiceClock,
        runtime: Service,
        owner: Owner = None,
        source_class: ClassFilter = None,
        include_retired: Annotated[bool, QueryParameter(description="Retired sources too")] = False,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> SourcePage:
        if source_class is not None:
            service.require_known_class(policy, source_class)
        after = (runtime.cursors.decode(cursor) or {}).get("after")
        rows = service.list_sources(reads, owner=owner, source_class=source_class, include_retired=include_retired,
                                    after=after, limit=limit)
        now = clock.now()
        page = rows[:limit]
        items = [source_out(s, service.active_snapshot(reads, s), policy, now) for s in page]
        more = len(rows) > limit
        return SourcePage(items, runtime.cursors.encode({"after": page[-1].id}) if more else None)

    @get("/{source_id:str}", summary="A source with its active snapshot and freshness", sync_to_thread=True,
         responses=problems(400, 401, 404, 422, 503))
    def get_source(self, source_id: FromPath[str], reads: ReadSession, policy: CurrentPolicy, clock: ServiceClock
                   ) -> SourceOut:
        source = service.get_source(reads, source_id)
        return source_out(source, service.active_snapshot(reads, source), policy, clock.now())

    @patch("/{source_id:str}", summary="Change title, uri, refresh_interval, tags, metadata or source_class",
           guards=WRITERS, dto=JSONBody[SourceUpdate], return_dto=None, sync_to_thread=True,
           responses=problems(*CHANGE_PROBLEMS))
    def update_source(self, source_id: FromPath[str], data: Annotated[SourceUpdate, Body()], principal: Caller,
                      writes: WriteSession, policy: CurrentPolicy, clock: ServiceClock, store: Store,
                      settings: ServiceSettings) -> SourceOut:
        now = clock.now()
        reach = SourceReach.of(settings)

        def update(session: Session) -> SourceOut:
            source = service.update_source(session, principal, source_id, data, policy, store, now, reach)
            return source_out(source, service.active_snapshot(session, source), policy, now)

        return writes(update)

    @delete("/{source_id:str}", status_code=200, summary="Retire a source: it stops serving at once",
            guards=WRITERS, sync_to_thread=True, responses=problems(400, 401, 403, 404, 422, 503))
    def retire_source(self, source_id: FromPath[str], principal: Caller, writes: WriteSession, policy: CurrentPolicy,
                      clock: ServiceClock, store: Store) -> SourceOut:
        now = clock.now()

        def retire(session: Session) -> tuple[SourceOut, serving.StepDown | None]:
            source, done = service.retire_source(session, principal, source_id, now)
            return source_out(source, None, policy, now), done

        retired, done = writes(retire)
        serving.finish(writes.sessions, store, done)
        return retired

    @post("/{source_id:str}/snapshots", status_code=201, summary="Publish a snapshot: 201 new content, 200 unchanged",
          response_description="New content: the new snapshot is active", guards=WRITERS, dto=JSONBody[PublishRequest],
          return_dto=None, sync_to_thread=True,
          responses={200: UNCHANGED, **problems(*CHANGE_PROBLEMS)})
    def publish(self, source_id: FromPath[str], data: Annotated[PublishRequest, Body()], principal: Caller,
                runtime: Service) -> Response[PublishResult]:
        result = publishing.publish(runtime, principal, source_id, data)
        return Response(result, status_code=201 if result.changed else 200)

    @get("/{source_id:str}/snapshots", summary="Snapshot history, newest first", sync_to_thread=True,
         responses=problems(400, 401, 404, 422, 503))
    def history(self, source_id: FromPath[str], reads: ReadSession, runtime: Service, limit: Limit = 50,
                cursor: Cursor = None) -> SnapshotPage:
        before = (runtime.cursors.decode(cursor) or {}).get("before")
        rows = snapshots.history(reads, source_id, before, limit)
        page = rows[:limit]
        more = len(rows) > limit
        return SnapshotPage([snapshot_out(s) for s in page],
                            runtime.cursors.encode({"before": page[-1].id}) if more else None)

    @post("/{source_id:str}/verify", status_code=200, summary="Confirm the active content is still current",
          guards=WRITERS, sync_to_thread=True, responses=problems(400, 401, 403, 404, 409, 422, 503))
    def verify(self, source_id: FromPath[str], principal: Caller, writes: WriteSession, clock: ServiceClock
               ) -> SnapshotOut:
        now = clock.now()
        return writes(lambda session: snapshot_out(snapshots.verify(session, principal, source_id, now)))


class SnapshotController(Controller):
    path = "/snapshots"
    tags = ["snapshots"]

    @get("/{snapshot_id:str}", summary="A snapshot with its documents", sync_to_thread=True,
         responses=problems(400, 401, 404, 422, 503))
    def get_snapshot(self, snapshot_id: FromPath[str], reads: ReadSession) -> SnapshotDetail:
        snap = snapshots.get_snapshot(reads, snapshot_id)
        return snapshot_detail(snap, snapshots.snapshot_documents(reads, snapshot_id))

    @post("/{snapshot_id:str}/activate", status_code=200, summary="Roll back or forward to a retained snapshot",
          guards=WRITERS, dto=JSONBody[ActivateRequest], return_dto=None, sync_to_thread=True,
          operation_class=OptionalBody, responses=problems(*CHANGE_PROBLEMS))
    def activate(self, snapshot_id: FromPath[str], principal: Caller, writes: WriteSession, clock: ServiceClock,
                 store: Store, data: Annotated[ActivateRequest | None, Body()] = None) -> SnapshotOut:
        expected = data.source_id if data is not None else None
        now = clock.now()
        activated, done = writes(lambda session: snapshots.activate(session, principal, snapshot_id, now, store,
                                                                    expected))
        serving.finish(writes.sessions, store, done)
        return snapshot_out(activated)
