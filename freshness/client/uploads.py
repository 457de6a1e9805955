"""Staged uploads from the client: a snapshot whose publish body would pass the service's body limit
(FRESHNESS_MAX_BODY) goes as an upload, in batches sized under the limit, committed as one publish.

The calls and the batching are written once, without I/O; `UploadMethods` and `AsyncUploadMethods`
give both clients the same methods over their own `_send`. A staged publish that fails at any step
abandons its upload, so nothing is left waiting for the hour-long expiry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import msgspec

from freshness.client.calls import Call, Moment, _moment, _segment
from freshness.client.errors import FreshnessAPIError, FreshnessClientError, InvalidInput
from freshness.errors import Problem
from freshness.sources.schemas import DocumentIn, PublishResult
from freshness.uploads.schemas import UploadAbandoned, UploadOut

T = TypeVar("T")
Progress = Callable[[int, int], None]
"""Called after each batch with (documents sent, documents in all)."""

DEFAULT_MAX_BODY = 32 * 2**20  # the service's default FRESHNESS_MAX_BODY
# What a batch body holds besides its documents: `{"documents":[` and `]}`, with room to spare.
_ENVELOPE = 64


class DocumentTooLarge(InvalidInput):
    """One document alone is larger than the service takes in a body: no batching can send it. Raised as
    the 413 the service would answer, so that `except InvalidInput` catches it as it catches that one."""

    @classmethod
    def of(cls, index: int, name: object, length: int, max_body: int) -> DocumentTooLarge:
        detail = (f"documents[{index}] ({name!r}) is {length} bytes as JSON, more than the service takes in one "
                  f"body ({max_body} bytes, FRESHNESS_MAX_BODY); split it or raise the limit")
        return cls(Problem(type="https://freshness.dev/problems/payload-too-large", title="Request body is too large",
                           status=413, detail=detail, field=f"documents[{index}]"))


def open_upload(source_id: str, *, version: str | None, captured_at: Moment | None,
                valid_until: Moment | None) -> Call[UploadOut]:
    given = {"version": version, "captured_at": _moment(captured_at), "valid_until": _moment(valid_until)}
    return Call("POST", f"/v1/sources/{_segment(source_id)}/uploads", UploadOut,
                body={k: v for k, v in given.items() if v is not None})


def add_documents(upload_id: str, documents: Sequence[DocumentIn | Mapping[str, Any]]) -> Call[UploadOut]:
    return Call("POST", f"/v1/uploads/{_segment(upload_id)}/documents", UploadOut, body={"documents": documents})


def commit_upload(upload_id: str) -> Call[PublishResult]:
    return Call("POST", f"/v1/uploads/{_segment(upload_id)}/commit", PublishResult)


def abandon_upload(upload_id: str) -> Call[UploadAbandoned]:
    # Abandoning twice leaves the service as abandoning once (the second is a 404).
    return Call("DELETE", f"/v1/uploads/{_segment(upload_id)}", UploadAbandoned, idempotent=True)


def too_large(call: Call[Any], max_body: int) -> bool:
    """Whether the call's body passes `max_body` bytes, as the service would count it."""
    body = call.encoded_body()
    return body is not None and len(body) > max_body


def batches(documents: Sequence[DocumentIn | Mapping[str, Any]], max_body: int
            ) -> Iterator[list[DocumentIn | Mapping[str, Any]]]:
    """The documents in order, in batches whose `{"documents": [...]}` body stays under `max_body` bytes."""
    room = max_body - _ENVELOPE
    batch: list[DocumentIn | Mapping[str, Any]] = []
    size = 0
    for index, document in enumerate(documents):
        length = len(msgspec.json.encode(document)) + 1  # and its comma
        if length > room:
            name = document.id if isinstance(document, DocumentIn) else document.get("id")
            raise DocumentTooLarge.of(index, name, length, max_body)
        if batch and size + length > room:
            yield batch
            batch, size = [], 0
        batch.append(document)
        size += length
    if batch:
        yield batch


def is_too_large(error: FreshnessAPIError) -> bool:
    return error.status == 413


class UploadMethods:
    """Staged uploads on `FreshnessClient`, over its `_send`."""

    max_body: int = DEFAULT_MAX_BODY

    def _send(self, call: Call[T]) -> T:
        raise NotImplementedError

    def open_upload(self, source_id: str, *, version: str | None = None, captured_at: Moment | None = None,
                    valid_until: Moment | None = None) -> UploadOut:
        """An upload for a snapshot of `source_id`; it expires after an hour without a batch."""
        return self._send(open_upload(source_id, version=version, captured_at=captured_at, valid_until=valid_until))

    def add_documents(self, upload_id: str, documents: Sequence[DocumentIn | Mapping[str, Any]]) -> UploadOut:
        """One batch, its body under the service's limit; `documents_received` counts every batch so far."""
        return self._send(add_documents(upload_id, documents))

    def commit_upload(self, upload_id: str) -> PublishResult:
        """Publish everything uploaded as one snapshot; answered as a publish."""
        return self._send(commit_upload(upload_id))

    def abandon_upload(self, upload_id: str) -> UploadAbandoned:
        return self._send(abandon_upload(upload_id))

    def publish_staged(self, source_id: str, documents: Sequence[DocumentIn | Mapping[str, Any]], *,
                       version: str | None = None, captured_at: Moment | None = None,
                       valid_until: Moment | None = None, progress: Progress | None = None) -> PublishResult:
        """Publish through an upload, in batches sized under the limit the service announces; on any failure
        the upload is abandoned and the error raised."""
        opened = self.open_upload(source_id, version=version, captured_at=captured_at, valid_until=valid_until)
        try:
            sent = 0
            for batch in batches(documents, opened.max_body):
                self.add_documents(opened.upload_id, batch)
                sent += len(batch)
                if progress is not None:
                    progress(sent, len(documents))
            return self.commit_upload(opened.upload_id)
        except BaseException:
            with contextlib.suppress(FreshnessClientError):
                self.abandon_upload(opened.upload_id)
            raise


class AsyncUploadMethods:
    """Staged uploads on `AsyncFreshnessClient`, over its `_send`."""

    max_body: int = DEFAULT_MAX_BODY

    async def _send(self, call: Call[T]) -> T:
        raise NotImplementedError

    async def open_upload(self, source_id: str, *, version: str | None = None, captured_at: Moment | None = None,
                          valid_until: Moment | None = None) -> UploadOut:
        return await self._send(open_upload(source_id, version=version, captured_at=captured_at,
                                            valid_until=valid_until))

    async def add_documents(self, upload_id: str, documents: Sequence[DocumentIn | Mapping[str, Any]]) -> UploadOut:
        return await self._send(add_documents(upload_id, documents))

    async def commit_upload(self, upload_id: str) -> PublishResult:
        return await self._send(commit_upload(upload_id))

    async def abandon_upload(self, upload_id: str) -> UploadAbandoned:
        return await self._send(abandon_upload(upload_id))

    async def publish_staged(self, source_id: str, documents: Sequence[DocumentIn | Mapping[str, Any]], *,
                             version: str | None = None, captured_at: Moment | None = None,
                             valid_until: Moment | None = None, progress: Progress | None = None) -> PublishResult:
        opened = await self.open_upload(source_id, version=version, captured_at=captured_at,
                                        valid_until=valid_until)
        try:
            sent = 0
            for batch in batches(documents, opened.max_body):
                await self.add_documents(opened.upload_id, batch)
                sent += len(batch)
                if progress is not None:
                    progress(sent, len(documents))
            return await self.commit_upload(opened.upload_id)
        except BaseException:
            with contextlib.suppress(FreshnessClientError):
                await self.abandon_upload(opened.upload_id)
            raise
