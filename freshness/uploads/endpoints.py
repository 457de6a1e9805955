"""HTTP endpoints of staged uploads (SPEC §4): for a snapshot whose publish body would pass
FRESHNESS_MAX_BODY. Open one on the source, add its documents in batches, commit them as one publish.

Open and abandon each run in one write transaction committed before the answer. Adding a batch checks
it before its write transaction, and the commit runs the publish use case, which manages its own
transactions (freshness.sources.publish): both take the service's runtime instead of a session.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, post
from litestar.params import Body, FromPath
from sqlalchemy.orm import Session

from freshness.api import Caller, JSONBody, Service, ServiceClock, ServiceSettings, WriteSession, problems
from freshness.models import Upload
from freshness.settings import Settings
from freshness.sources.endpoints import CHANGE_PROBLEMS, UNCHANGED, WRITERS, OptionalBody
from freshness.sources.schemas import PublishResult
from freshness.uploads import service
from freshness.uploads.schemas import UploadAbandoned, UploadBatch, UploadCreate, UploadOut


def upload_out(upload: Upload, settings: Settings) -> UploadOut:
    return UploadOut(upload_id=upload.id, source_id=upload.source_id, expires_at=upload.expires_at,
                     documents_received=upload.document_count, bytes_received=upload.byte_count,
                     max_body=settings.max_body, max_upload=settings.max_upload)


class UploadController(Controller):
    path = "/"
    tags = ["uploads"]

    @post("/sources/{source_id:str}/uploads", status_code=201, guards=WRITERS,
          summary="Open a staged upload, for a snapshot too large for one publish body",
          dto=JSONBody[UploadCreate], return_dto=None, sync_to_thread=True, operation_class=OptionalBody,
          responses=problems(*CHANGE_PROBLEMS))
    def open_upload(self, source_id: FromPath[str], principal: Caller, writes: WriteSession, clock: ServiceClock,
                    settings: ServiceSettings, data: Annotated[UploadCreate | None, Body()] = None) -> UploadOut:
        """The body holds what a publish body holds besides its documents; every field may be left out. The
        upload expires after an hour without a batch."""
        body = data or UploadCreate()
        now = clock.now()

        def open_one(session: Session) -> UploadOut:
            return upload_out(service.open_upload(session, principal, source_id, body, now), settings)

        return writes(open_one)

    @post("/uploads/{upload_id:str}/documents", status_code=200, guards=WRITERS,
          summary="Add a batch of documents to a staged upload", dto=JSONBody[UploadBatch], return_dto=None,
          sync_to_thread=True, responses=problems(*CHANGE_PROBLEMS))
    def add_documents(self, upload_id: FromPath[str], data: Annotated[UploadBatch, Body()], principal: Caller,
                      runtime: Service) -> UploadOut:
        """Documents as in a publish, checked by the same rules; a document id sent in an earlier batch is
        refused. A refused batch leaves the upload as it was. `documents_received` counts every batch."""
        return upload_out(service.add_documents(runtime, principal, upload_id, data), runtime.settings)

    @post("/uploads/{upload_id:str}/commit", status_code=201, guards=WRITERS,
          summary="Publish everything uploaded as one snapshot: 201 new content, 200 unchanged",
          response_description="New content: the new snapshot is active", sync_to_thread=True,
          responses={200: UNCHANGED, **problems(*CHANGE_PROBLEMS)})
    def commit(self, upload_id: FromPath[str], principal: Caller, runtime: Service) -> Response[PublishResult]:
        """All or nothing, answered as a publish. The upload is gone once its snapshot is published; a failed
        commit publishes nothing and leaves the upload open."""
        result = service.commit(runtime, principal, upload_id)
        return Response(result, status_code=201 if result.changed else 200)

    @delete("/uploads/{upload_id:str}", status_code=200, guards=WRITERS, summary="Abandon a staged upload",
            sync_to_thread=True, responses=problems(400, 401, 403, 404, 409, 422, 503))
    def abandon(self, upload_id: FromPath[str], principal: Caller, writes: WriteSession, clock: ServiceClock
                ) -> UploadAbandoned:
        """Everything it received is dropped; nothing is published. An expired upload may still be abandoned."""
        now = clock.now()
        source_id, dropped = writes(lambda session: service.abandon(session, principal, upload_id, now))
        return UploadAbandoned(upload_id=upload_id, source_id=source_id, documents_dropped=dropped)
