"""Wire shapes of staged uploads. A batch's documents are the publish's `DocumentIn`, so a document is
checked by the same rules whichever way it arrives."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

from freshness.sources.schemas import AwareTime, DocumentIn


class UploadCreate(Struct, forbid_unknown_fields=True):
    """What a publish body holds besides its documents; they apply to the snapshot the commit makes.
    Without `captured_at`, the content counts as captured when the upload is committed, as a publish would."""

    version: Annotated[str, Meta(min_length=1, max_length=256)] | None = None
    captured_at: AwareTime | None = None
    valid_until: AwareTime | None = None


class UploadOut(Struct):
    upload_id: str
    source_id: str
    # An upload idle (no batch added) until then is dropped with everything it received.
    expires_at: datetime
    documents_received: int
    # The documents as stored, in JSON: what FRESHNESS_MAX_UPLOAD bounds.
    bytes_received: int
    # The largest body the service accepts (FRESHNESS_MAX_BODY): size each batch under it.
    max_body: int
    # What all the batches together may hold (FRESHNESS_MAX_UPLOAD).
    max_upload: int


class UploadBatch(Struct, forbid_unknown_fields=True):
    documents: list[DocumentIn]


class UploadAbandoned(Struct):
    upload_id: str
    source_id: str
    documents_dropped: int
