"""Staged uploads (SPEC §4): open, add batches, commit as one publish, abandon; idle ones expire.

Invariants a reader must not break:

- A batch is all or nothing: it is checked whole (each document by the publish's own rules in
  `prepare`, then against what the upload already holds) before one row of it is written, and
  its rows go in the same transaction that moves the upload's counts and expiry.
- The commit does not publish by itself: it hands everything received to
  `freshness.sources.publish.publish`, so a commit checks, answers and counts exactly as a publish
  does (owner, retired source, a publish already in progress: 409, unchanged content: 200).
- While a commit runs the upload is `committing`: a second commit or an abandon meanwhile is a 409.
  A failed commit publishes nothing and leaves the upload `open` as it was, to commit again or abandon.
- Only a key id is kept with an upload, never the key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import msgspec
from sqlalchemy import CursorResult, delete, insert, select
from sqlalchemy.orm import Session
from ulid import ULID

from freshness.auth.guards import require_owner
from freshness.auth.keys import Principal
from freshness.db import read_scope, session_scope, transaction
from freshness.errors import Conflict, InvalidInput, NotFound
from freshness.models import Source, Upload, UploadDocument, UploadState
from freshness.runtime import Runtime
from freshness.settings import Settings
from freshness.sources.prepare import MAX_CLOCK_SKEW, prepare
from freshness.sources.publish import publish
from freshness.sources.schemas import DocumentIn, PublishRequest, PublishResult
from freshness.sources.service import get_source
from freshness.uploads.schemas import UploadBatch, UploadCreate

log = logging.getLogger("freshness.uploads")

UPLOAD_IDLE = timedelta(hours=1)
"""An upload that receives no batch for this long expires and leaves nothing (SPEC §4)."""
IDS_PER_QUERY = 500  # document ids per IN (...) when looking for ids an earlier batch sent


class UploadExpired(NotFound):
    type = "upload-expired"
    title = "Upload expired"


def new_upload_id() -> str:
    return f"upl_{ULID()}"


def open_upload(session: Session, principal: Principal, source_id: str, body: UploadCreate, now: datetime) -> Upload:
    source = get_source(session, source_id)
    require_owner(principal, source.owner)
    _require_live(source)
    # The publish's own checks of these fields, early: a commit an hour later would refuse them anyway.
    if body.captured_at is not None and body.captured_at > now + MAX_CLOCK_SKEW:
        raise InvalidInput("captured_at is more than 5 minutes in the future", field="captured_at")
    if body.valid_until is not None and body.valid_until < (body.captured_at or now):
        raise InvalidInput("valid_until is before captured_at", field="valid_until")
    upload = Upload(
        id=new_upload_id(), source_id=source.id, opened_by=principal.key_id, version=body.version,
        captured_at=body.captured_at, valid_until=body.valid_until, state=UploadState.OPEN, created_at=now,
        touched_at=now, expires_at=now + UPLOAD_IDLE, document_count=0, byte_count=0, vector_size=None,
    )
    session.add(upload)
    session.flush()
    return upload


@dataclass
class CheckedBatch:
    """A batch that passed every check needing no database, with each document as it will be stored."""

    documents: list[DocumentIn]
    bodies: list[bytes]
    vector_size: int | None


def add_documents(runtime: Runtime, principal: Principal, upload_id: str, batch: UploadBatch) -> Upload:
    """Check the batch whole, then store it; a refused batch leaves the upload as it was.

    The documents are checked (and cut, as a publish would) with no transaction open: a large batch
    must not hold the database's one SQLite writer turn that retrievals need for their audit records."""
    now = runtime.clock.now()
    with read_scope(runtime.sessions) as session:
        # 404, 403 and 409 before the batch is looked at, as the transaction below would answer them.
        upload, source = _find(session, principal, upload_id, now, lock=False)
        _require_open(upload)
        _require_live(source)
    checked = _check_batch(batch, runtime.settings, now)
    return transaction(runtime.sessions,
                       lambda session: _store_batch(session, principal, upload_id, checked, runtime.settings, now))


def _check_batch(batch: UploadBatch, settings: Settings, now: datetime) -> CheckedBatch:
    if not batch.documents:
        raise InvalidInput("documents: a batch needs at least one document", field="documents")
    # The publish's checks of each document (text or chunks, lengths, vectors, an id twice in the batch),
    # with errors naming the field in this batch's body: documents[3].id.
    prepared = prepare(PublishRequest(documents=batch.documents), settings, now)
    return CheckedBatch(batch.documents, [msgspec.json.encode(doc) for doc in batch.documents], prepared.vector_size)


def _store_batch(session: Session, principal: Principal, upload_id: str, batch: CheckedBatch, settings: Settings,
                 now: datetime) -> Upload:
    """Judge the batch against what the upload holds now, under its lock, and store it with the new counts."""
    upload, source = _find(session, principal, upload_id, now)
    _require_open(upload)
    _require_live(source)
    total = upload.document_count + len(batch.documents)
    if total > settings.max_documents:
        raise InvalidInput(f"documents: this batch would bring the upload to {total} documents, at most "
                           f"{settings.max_documents} per snapshot (FRESHNESS_MAX_DOCUMENTS)", field="documents")
    _check_vector_size(upload, batch.documents, batch.vector_size)
    size = upload.byte_count + sum(len(body) for body in batch.bodies)
    if size > settings.max_upload:
        raise InvalidInput(f"documents: this batch would bring the upload to {size} bytes, at most "
                           f"{settings.max_upload} (FRESHNESS_MAX_UPLOAD)", field="documents")
    _refuse_repeated_ids(session, upload.id, batch.documents)
    session.execute(insert(UploadDocument), [
        {"upload_id": upload.id, "position": upload.document_count + index, "document_id": doc.id,
         "body": body.decode()}
        for index, (doc, body) in enumerate(zip(batch.documents, batch.bodies, strict=True))
    ])
    upload.document_count = total
    upload.byte_count = size
    if batch.vector_size is not None:
        upload.vector_size = batch.vector_size
    _touch(upload, now)
    return upload


def commit(runtime: Runtime, principal: Principal, upload_id: str) -> PublishResult:
    """Publish everything the upload received as one snapshot, through the publish use case."""
    now = runtime.clock.now()
    source_id = transaction(runtime.sessions, lambda session: _begin_commit(session, principal, upload_id, now))
    try:
        body = _staged_request(runtime, upload_id)
        result = publish(runtime, principal, source_id, body)
    except BaseException:
        _reopen(runtime, upload_id)
        raise
    try:
        transaction(runtime.sessions, lambda session: _drop(session, [upload_id]))
    except Exception as exc:  # published all the same: the expiry sweep drops the upload later
        log.warning("upload %s is published but could not be dropped: %s", upload_id, exc)
    return result


def abandon(session: Session, principal: Principal, upload_id: str, now: datetime) -> tuple[str, int]:
    """Drop the upload and what it received: (its source id, documents dropped)."""
    upload, source = _find(session, principal, upload_id, now, expired_ok=True)
    if upload.state == UploadState.COMMITTING:
        raise Conflict(f"upload {upload_id!r} is being committed; it is gone once the commit ends")
    return source.id, _drop(session, [upload.id])


def expire_idle(session: Session, now: datetime, limit: int) -> tuple[int, int]:
    """Drop up to `limit` uploads idle past their expiry: (uploads, documents) dropped."""
    # Locked and judged again under the lock: a batch that arrived a moment ago keeps its upload.
    ids = list(session.scalars(
        select(Upload.id).where(Upload.expires_at <= now).order_by(Upload.expires_at).limit(limit).with_for_update()
    ))
    return len(ids), _drop(session, ids)


def _find(session: Session, principal: Principal, upload_id: str, now: datetime, *, expired_ok: bool = False,
          lock: bool = True) -> tuple[Upload, Source]:
    query = select(Upload).where(Upload.id == upload_id)
    # Locked in a write: batches, a commit and an abandon of one upload take turns.
    upload = session.scalar(query.with_for_update() if lock else query)
    if upload is None:
        raise NotFound(f"no upload with id {upload_id!r}: it was committed, abandoned or dropped after an hour "
                       "idle, or never opened")
    source = session.get_one(Source, upload.source_id)
    require_owner(principal, source.owner)
    if upload.expires_at <= now and not expired_ok:
        raise UploadExpired(f"upload {upload_id!r} expired at {upload.expires_at.isoformat()} after an hour "
                            "without a batch, and its documents are dropped; open a new upload and send them again")
    return upload, source


def _require_open(upload: Upload) -> None:
    if upload.state == UploadState.COMMITTING:
        raise Conflict(f"upload {upload.id!r} is being committed; wait for the commit to end")


def _require_live(source: Source) -> None:
    if source.retired_at is not None:
        raise Conflict(f"source {source.id!r} is retired; register a new source to publish again")


def _touch(upload: Upload, now: datetime) -> None:
    upload.touched_at = now
    upload.expires_at = now + UPLOAD_IDLE


def _check_vector_size(upload: Upload, documents: list[DocumentIn], size: int | None) -> None:
    if size is None or upload.vector_size is None or size == upload.vector_size:
        return
    index = next(i for i, doc in enumerate(documents) if doc.vectors is not None)
    raise InvalidInput(f"documents[{index}].vectors have dimension {size}, but earlier batches of this upload "
                       f"sent dimension {upload.vector_size}", field=f"documents[{index}].vectors")


def _refuse_repeated_ids(session: Session, upload_id: str, documents: list[DocumentIn]) -> None:
    position = {doc.id: index for index, doc in enumerate(documents)}
    ids = list(position)
    for start in range(0, len(ids), IDS_PER_QUERY):
        taken = session.scalars(select(UploadDocument.document_id).where(
            UploadDocument.upload_id == upload_id, UploadDocument.document_id.in_(ids[start:start + IDS_PER_QUERY])))
        first = min((position[doc_id] for doc_id in taken), default=None)
        if first is not None:
            where = f"documents[{first}].id"
            raise InvalidInput(f"{where}: document id {documents[first].id!r} was already sent in an earlier batch "
                               "of this upload", field=where)


def _begin_commit(session: Session, principal: Principal, upload_id: str, now: datetime) -> str:
    upload, source = _find(session, principal, upload_id, now)
    _require_open(upload)
    _require_live(source)
    if upload.document_count == 0:
        raise InvalidInput("documents: this upload has received no document; add documents before committing",
                           field="documents")
    upload.state = UploadState.COMMITTING
    _touch(upload, now)
    return upload.source_id


def _staged_request(runtime: Runtime, upload_id: str) -> PublishRequest:
    with read_scope(runtime.sessions) as session:
        upload = session.get_one(Upload, upload_id)
        bodies = session.scalars(select(UploadDocument.body).where(UploadDocument.upload_id == upload_id)
                                 .order_by(UploadDocument.position))
        documents = [msgspec.json.decode(body, type=DocumentIn) for body in bodies]
        return PublishRequest(documents=documents, version=upload.version, captured_at=upload.captured_at,
                              valid_until=upload.valid_until)


def _reopen(runtime: Runtime, upload_id: str) -> None:
    """After a failed commit: the upload is open again, to commit once more or to abandon."""
    try:
        with session_scope(runtime.sessions) as session:
            upload = session.get(Upload, upload_id)
            if upload is not None:
                upload.state = UploadState.OPEN
                _touch(upload, runtime.clock.now())
    except Exception as exc:  # the caller raises the commit's own error; this one only delays a retry
        log.warning("could not reopen upload %s after a failed commit: %s", upload_id, exc)


def _drop(session: Session, upload_ids: list[str]) -> int:
    if not upload_ids:
        return 0
    documents = cast(CursorResult, session.execute(
        delete(UploadDocument).where(UploadDocument.upload_id.in_(upload_ids)))).rowcount
    session.execute(delete(Upload).where(Upload.id.in_(upload_ids)))
    return documents or 0
