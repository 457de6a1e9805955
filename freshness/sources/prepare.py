"""Checking a publish request and cutting its documents into chunks, before anything is stored."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec

from freshness.errors import InvalidInput
from freshness.hashing import sha256_text
from freshness.settings import Settings
from freshness.sources.chunking import split_text
from freshness.sources.hashing import document_hash, snapshot_hash
from freshness.sources.schemas import PublishRequest
from freshness.vectorstore.handover import hand_over
from freshness.wire import check_text

MAX_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class KnownDocument:
    """A document of the snapshot a publish builds on, as stored."""

    sent_hash: str | None
    content_hash: str
    chunk_count: int


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
    sent_hash: str
    # Sent exactly as in the snapshot the publish builds on: its chunks are not cut again (`chunks` is
    # empty); the publish copies them, and shares their points, from that snapshot.
    kept_chunks: int | None = field(default=None)
    # Each chunk's BM25 vector as msgpack (sources.worker.decode_sparse), when the document was prepared in a
    # worker process, which embeds them there; otherwise None and indexing embeds them. Bytes until
    # indexed: one object per chunk that the garbage collector never scans, instead of three lists.
    sparse: list[bytes] | None = field(default=None)

    @property
    def chunk_count(self) -> int:
        return len(self.chunks) if self.kept_chunks is None else self.kept_chunks


@dataclass
class PreparedSnapshot:
    documents: list[PreparedDocument]
    content_hash: str
    version: str | None
    captured_at: datetime
    valid_until: datetime | None
    vector_size: int | None
    base_id: str | None = None  # the snapshot whose documents were known to `prepare` (kept ones are its)

    @property
    def chunk_count(self) -> int:
        return sum(d.chunk_count for d in self.documents)

    @property
    def kept(self) -> list[PreparedDocument]:
        return [d for d in self.documents if d.kept_chunks is not None]


def prepare(body: PublishRequest, settings: Settings, now: datetime, sent: list[str] | None = None,
            known: Mapping[str, KnownDocument] | None = None) -> PreparedSnapshot:
    """Validate every rule that needs no database, then chunk and hash. Raises InvalidInput naming the field.

    `sent`: the documents' `sent_hashes` when the caller has them. `known`: the documents of the snapshot
    this one builds on, by id; one sent exactly as then (the same sent hash) passed every check then and
    would be cut the same, so it is kept as it is: its vector size is still read, nothing else."""
    sent = sent if sent is not None else sent_hashes(body, settings)
    # Text is checked again here (the command line and scheduled refreshes build bodies without
    # decode_body), for the envelope and every document not kept.
    for name in body.__struct_fields__:
        if name != "documents":
            check_text(getattr(body, name), name, name)
    captured_at = check_envelope(body, settings, now)
    seen: set[str] = set()
    vector_size: int | None = None
    documents: list[PreparedDocument] = []
    for index, (doc, sent_hash) in enumerate(zip(body.documents, sent, strict=True)):
        hand_over()  # in `serve`, a waiting retrieval goes first, between documents
        where = f"documents[{index}]"
        if doc.id in seen:
            raise InvalidInput(f"{where}.id: document id {doc.id!r} appears twice", field=f"{where}.id")
        seen.add(doc.id)
        before = known.get(doc.id) if known else None
        if before is not None and before.sent_hash == sent_hash:
            if doc.vectors:
                vector_size = _same_size(vector_size, len(doc.vectors[0]), f"{where}.vectors[0]")
            documents.append(PreparedDocument(doc.id, doc.title, doc.uri, doc.metadata, before.content_hash, [], [],
                                              None, sent_hash, kept_chunks=before.chunk_count))
            continue
        check_text(doc, where, "documents", 1)
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
                if vector_size is None and not 1 <= len(vector) <= 8192:
                    raise InvalidInput(f"{where}.vectors: dimension {len(vector)} is out of range",
                                       field=f"{where}.vectors")
                vector_size = _same_size(vector_size, len(vector), f"{where}.vectors[{position}]")
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
                sent_hash=sent_hash,
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


def encode_documents(body: PublishRequest) -> list[bytes]:
    """Each document exactly as sent, vectors included, as msgpack (a NaN stays a NaN, unlike in JSON): what
    its sent hash covers, and what a worker process decodes it from."""
    encoded = []
    for doc in body.documents:
        hand_over()  # the encoder holds the GIL: a waiting retrieval goes first, between documents
        encoded.append(msgspec.msgpack.encode(doc))
    return encoded


def sent_hashes(body: PublishRequest, settings: Settings, encoded: list[bytes] | None = None) -> list[str]:
    """Each document exactly as sent (vectors included) with the settings that decide how it is checked, cut
    and embedded: a document with the sent hash of a stored one would be prepared and indexed the same.

    `encoded`: the documents as `encode_documents` gives them, when the caller has them."""
    # The embedder too: a kept document keeps its points' vectors, so a new embedder must see every document.
    embedder = "none" if settings.embedder == "none" else f"{settings.embedder}|{settings.embedder_model}"
    suffix = (f"|{settings.chunk_size}|{settings.chunk_overlap}|{settings.max_text_length}"
              f"|{settings.max_chunks_per_document}|{embedder}").encode()
    return [_sent_hash(data, suffix) for data in (encoded if encoded is not None else encode_documents(body))]


def _sent_hash(data: bytes, suffix: bytes) -> str:
    digest = hashlib.sha256(data)
    digest.update(suffix)
    return "sha256:" + digest.hexdigest()


def fingerprint(sent: list[str]) -> str:
    """The documents as sent, in their order, from their sent hashes. A body with the fingerprint of the
    active snapshot's last accepted body passed every check of `prepare` then and would come out the
    same: it is confirmed without being prepared again."""
    return sha256_text("".join(f"{h}\n" for h in sent))


def _same_size(known: int | None, size: int, where: str) -> int:
    if known is not None and size != known:
        raise InvalidInput(f"{where} has dimension {size}, expected {known}", field=where)
    return size


def _usable_vector(vector: list[float]) -> bool:
    """Finite and not all zero. The sum runs in C: a NaN or an infinity anywhere makes it non-finite,
    and only then (or when large finite values overflow it) is each element looked at."""
    if not math.isfinite(sum(vector)) and not all(map(math.isfinite, vector)):
        return False
    return any(vector)
