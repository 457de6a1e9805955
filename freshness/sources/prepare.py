"""Checking a publish request and cutting its documents into chunks, before anything is stored."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from freshness.errors import InvalidInput
from freshness.hashing import sha256_text
from freshness.settings import Settings
from freshness.sources.chunking import split_text
from freshness.sources.hashing import document_hash, snapshot_hash
from freshness.sources.schemas import PublishRequest
from freshness.wire import check_text

MAX_CLOCK_SKEW = timedelta(minutes=5)


@dataclass
class PreparedDocument:
    id: str
    title: str | None
    uri: str | None
    metadata: dict
    content_hash: str
    chunks: list[str]
    chunk_hashes: list[str]
    vectors: list[list[float]] | None


@dataclass
class PreparedSnapshot:
    documents: list[PreparedDocument]
    content_hash: str
    version: str | None
    captured_at: datetime
    valid_until: datetime | None
    vector_size: int | None

    @property
    def chunk_count(self) -> int:
        return sum(len(d.chunks) for d in self.documents)


def prepare(body: PublishRequest, settings: Settings, now: datetime) -> PreparedSnapshot:
    """Validate every rule that needs no database, then chunk and hash. Raises InvalidInput naming the field."""
    check_text(body)  # again here: the command line and scheduled refreshes build bodies without decode_body
    captured_at = check_envelope(body, settings, now)
    seen: set[str] = set()
    vector_size: int | None = None
    documents: list[PreparedDocument] = []
    for index, doc in enumerate(body.documents):
        where = f"documents[{index}]"
        if doc.id in seen:
            raise InvalidInput(f"{where}.id: document id {doc.id!r} appears twice", field=f"{where}.id")
        seen.add(doc.id)
        if (doc.text is None) == (doc.chunks is None):
            raise InvalidInput(f"{where}: give either text or chunks", field=where)
        if doc.text is not None:
            if not doc.text.strip():
                raise InvalidInput(f"{where}.text is empty", field=f"{where}.text")
            if len(doc.text) > settings.max_text_length:
                raise InvalidInput(
                    f"{where}.text has {len(doc.text)} characters, at most {settings.max_text_length}",
                    field=f"{where}.text",
                )
            if doc.vectors is not None:
                raise InvalidInput(
                    f"{where}.vectors: vectors must be aligned with chunks; send chunks instead of text",
                    field=f"{where}.vectors",
                )
            chunks = split_text(doc.text, settings.chunk_size, settings.chunk_overlap)
        else:
            chunks = list(doc.chunks or [])
            if not chunks:
                raise InvalidInput(f"{where}.chunks is empty", field=f"{where}.chunks")
            for position, chunk in enumerate(chunks):
                if not chunk.strip():
                    raise InvalidInput(f"{where}.chunks[{position}] is empty", field=f"{where}.chunks[{position}]")
                if len(chunk) > settings.max_text_length:
                    raise InvalidInput(f"{where}.chunks[{position}] is too long", field=f"{where}.chunks[{position}]")
        if len(chunks) > settings.max_chunks_per_document:
            raise InvalidInput(
                f"{where} makes {len(chunks)} chunks, at most {settings.max_chunks_per_document}", field=where
            )
        if doc.vectors is not None:
            if len(doc.vectors) != len(chunks):
                raise InvalidInput(
                    f"{where}.vectors has {len(doc.vectors)} vectors for {len(chunks)} chunks",
                    field=f"{where}.vectors",
                )
            for position, vector in enumerate(doc.vectors):
                if vector_size is None:
                    vector_size = len(vector)
                    if not 1 <= vector_size <= 8192:
                        raise InvalidInput(f"{where}.vectors: dimension {vector_size} is out of range",
                                           field=f"{where}.vectors")
                if len(vector) != vector_size:
                    raise InvalidInput(
                        f"{where}.vectors[{position}] has dimension {len(vector)}, expected {vector_size}",
                        field=f"{where}.vectors[{position}]",
                    )
                if not _usable_vector(vector):
                    raise InvalidInput(
                        f"{where}.vectors[{position}] must be finite and not all zero",
                        field=f"{where}.vectors[{position}]",
                    )
        documents.append(
            PreparedDocument(
                id=doc.id,
                title=doc.title,
                uri=doc.uri,
                metadata=doc.metadata,
                content_hash=document_hash(doc.id, doc.title, doc.uri, doc.metadata, doc.text, doc.chunks),
                chunks=chunks,
                chunk_hashes=[sha256_text(c) for c in chunks],
                vectors=doc.vectors,
            )
        )
    documents.sort(key=lambda d: d.id)
    return PreparedSnapshot(
        documents=documents,
        content_hash=snapshot_hash([(d.id, d.content_hash) for d in documents]),
        version=body.version,
        captured_at=captured_at,
        valid_until=body.valid_until,
        vector_size=vector_size,
    )


def check_envelope(body: PublishRequest, settings: Settings, now: datetime) -> datetime:
    """The rules on the request as a whole (how many documents, its times); returns its captured_at.

    Checked on every publish, also when the documents are recognised as the ones already published."""
    if not body.documents:
        raise InvalidInput("documents: a snapshot needs at least one document", field="documents")
    if len(body.documents) > settings.max_documents:
        raise InvalidInput(
            f"documents: {len(body.documents)} documents, at most {settings.max_documents} per snapshot",
            field="documents",
        )
    captured_at = body.captured_at or now
    if captured_at > now + MAX_CLOCK_SKEW:
        raise InvalidInput("captured_at is more than 5 minutes in the future", field="captured_at")
    if body.valid_until is not None and body.valid_until < captured_at:
        raise InvalidInput("valid_until is before captured_at", field="valid_until")
    return captured_at


def fingerprint(body: PublishRequest, settings: Settings) -> str:
    """The documents exactly as sent (vectors included) and the settings that decide how they are checked
    and cut. A body with the fingerprint of the active snapshot's last accepted body passed every check
    of `prepare` then and would come out the same: it is confirmed without being prepared again."""
    digest = hashlib.sha256(msgspec.msgpack.encode(body.documents))  # a NaN stays a NaN, unlike in JSON
    digest.update(f"|{settings.chunk_size}|{settings.chunk_overlap}|{settings.max_text_length}"
                  f"|{settings.max_chunks_per_document}".encode())
    return "sha256:" + digest.hexdigest()


def _usable_vector(vector: list[float]) -> bool:
    """Finite and not all zero. The sum runs in C: a NaN or an infinity anywhere makes it non-finite,
    and only then (or when large finite values overflow it) is each element looked at."""
    if not math.isfinite(sum(vector)) and not all(map(math.isfinite, vector)):
        return False
    return any(vector)
