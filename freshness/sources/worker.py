"""Preparing a large publish in a worker process, so that `serve`'s interpreter stays with retrievals.

Cutting, checking and hashing documents and embedding their chunks with BM25 is Python and native code
that holds the GIL. In one process with the retrievals, every retrieval waits for it at each of its
database and store calls (up to the 5 ms switch interval each time): a retrieval that runs while a
large publish is prepared takes many times its usual time. In a process of its own the work costs the
retrievals nothing but a share of the machine, and only the store writes and the activation stay here.

The pool holds one process, started on the first publish large enough to need it and kept for the
next ones (starting an interpreter costs more than most publishes), at a lower priority than the
service's; `close` stops it, and the runtime
closes it when the service stops. A small publish stays in this process: handing it over would cost
more than it spares. When the pool cannot start or its process dies, the publish is prepared here,
as before there was a pool: slower for the retrievals meanwhile, never refused for it.

Documents travel as the msgpack bytes their sent hashes are taken over (`prepare.encode_documents`)
and come back one per document, so that neither end holds the GIL for one long encode or decode.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import select
import threading
import time
from collections.abc import Mapping
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any

import msgspec

from freshness.errors import InvalidInput
from freshness.settings import Settings
from freshness.sources.prepare import KnownDocument, PreparedDocument, PreparedSnapshot, prepare
from freshness.sources.schemas import DocumentIn, PublishRequest
from freshness.vectorstore.base import SparseVec
from freshness.vectorstore.embedders import bm25_document
from freshness.vectorstore.handover import hand_over

log = logging.getLogger("freshness")

# The documents to prepare (not kept from the active snapshot), as msgpack bytes, from which a publish
# is handed to the worker. Below it the hop (a millisecond each way, decoding the result, and a tenth
# more time in all) costs the publish more than it spares the retrievals: preparing here hands the GIL
# to a waiting retrieval between documents and every few chunks embedded, and lasts tens of milliseconds.
WORKER_MIN_BYTES = 2**20

WORKER_NICENESS = 10  # added to the worker's nice value (os.nice): lower priority than the service's

_PREPARED_DOCUMENT = msgspec.msgpack.Decoder(PreparedDocument)
_SPARSE = msgspec.msgpack.Decoder(SparseVec)


class PrepareWorkers:
    """The process that prepares large publishes; started when first needed, reused, closed by `close`."""

    def __init__(self, min_bytes: int = WORKER_MIN_BYTES) -> None:
        self.min_bytes = min_bytes
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._unavailable = False  # the pool could not start: prepare here from now on

    def prepare(self, body: PublishRequest, settings: Settings, now: datetime, sent: list[str],
                encoded: list[bytes], known: Mapping[str, KnownDocument] | None = None) -> PreparedSnapshot:
        """`prepare.prepare`, in the worker when the documents to prepare are large enough, with each
        chunk's BM25 vector (`PreparedDocument.sparse`) computed there too. Raises what `prepare`
        raises, the same way wherever it ran."""
        size = sum(len(data) for data, doc, digest in zip(encoded, body.documents, sent, strict=True)
                   if not _kept(known, doc.id, digest))
        future = self._submit(body, settings, now, sent, encoded, known) if size >= self.min_bytes else None
        if future is None:
            return prepare(body, settings, now, sent, known)
        try:
            answer = future.result()
        except (BrokenProcessPool, CancelledError):  # its process died, or `close` cancelled it
            log.warning("the publish worker process ended; preparing this publish in the service's process")
            self._discard()
            return prepare(body, settings, now, sent, known)
        if answer[0] == "invalid":
            raise InvalidInput(answer[1], **answer[2])
        _, content_hash, captured_at, vector_size, encoded_documents = answer
        documents = []
        sent_vectors = {doc.id: doc.vectors for doc in body.documents}
        for data in encoded_documents:
            hand_over()  # between documents, to a retrieval waiting for the GIL
            doc = _PREPARED_DOCUMENT.decode(data)
            documents.append(doc)
            if doc.kept_chunks is None:
                doc.vectors = sent_vectors[doc.id]  # not sent back: they are the body's own, as `prepare` keeps them
        return PreparedSnapshot(
            documents=documents,
            content_hash=content_hash,
            version=body.version,
            captured_at=captured_at,
            valid_until=body.valid_until,
            vector_size=vector_size,
        )

    def close(self) -> None:
        """Stop the worker (after the publish it may be preparing); a later large publish starts another."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    @property
    def started(self) -> bool:
        return self._pool is not None

    def _submit(self, body: PublishRequest, settings: Settings, now: datetime, sent: list[str],
                encoded: list[bytes], known: Mapping[str, KnownDocument] | None) -> Future[tuple] | None:
        envelope = (body.version, body.captured_at, body.valid_until)
        for _ in range(2):  # a pool whose process died is replaced once
            pool = self._started_pool()
            if pool is None:
                return None
            try:
                return pool.submit(_prepare_here, envelope, encoded, _limits(settings), now, sent, dict(known or {}))
            except (BrokenProcessPool, RuntimeError):  # its process died, or `close` shut it meanwhile
                self._discard()
            except OSError as exc:  # the process is started on the first submit
                self._give_up(exc)
                self._discard()
                return None
        return None

    def _started_pool(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._pool is None and not self._unavailable:
                try:
                    self._pool = ProcessPoolExecutor(max_workers=1, mp_context=_context(), initializer=_start_worker,
                                                     initargs=(os.getpid(),))
                except (OSError, ValueError, ImportError) as exc:
                    self._give_up(exc)
            return self._pool

    def _give_up(self, exc: Exception) -> None:
        self._unavailable = True
        log.warning("no worker process for publishing (%s); publishes are prepared in the service's process", exc)

    def _discard(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def decode_sparse(data: bytes) -> SparseVec:
    """A chunk's BM25 vector as the worker sent it (`PreparedDocument.sparse`)."""
    return _SPARSE.decode(data)


def _context() -> Any:
    """forkserver where there is one: a fresh interpreter (nothing of this process's threads or open
    store), and later processes forked from it without importing everything again."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


def _start_worker(service: int) -> None:
    """In the worker, first: a lower priority than the service's, so that on a busy machine the retrievals
    get the CPU first and a publish, which nobody waits for by the millisecond, takes what is left; and an
    end with the service's process, however that ends (a SIGTERM that skips `close`, a crash)."""
    try:
        os.nice(WORKER_NICENESS)
    except OSError:  # not allowed here: the same priority as the service, as without a worker
        pass
    threading.Thread(target=_end_with, args=(service,), name="end-with-service", daemon=True).start()


def _end_with(service: int) -> None:
    """Returns never: ends this process once the process `service` has ended."""
    try:
        handle = os.pidfd_open(service)  # Linux: readable once the process has ended
    except (AttributeError, OSError):
        handle = None
    if handle is not None:
        select.select([handle], [], [])
    else:
        while _alive(service):
            time.sleep(1)
    os._exit(0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _limits(settings: Settings) -> Settings:
    """What `prepare` applies, and nothing else: no database URL, key or endpoint leaves the process."""
    return Settings(max_documents=settings.max_documents, max_text_length=settings.max_text_length,
                    max_chunks_per_document=settings.max_chunks_per_document, chunk_size=settings.chunk_size,
                    chunk_overlap=settings.chunk_overlap)


def _kept(known: Mapping[str, KnownDocument] | None, document_id: str, sent_hash: str) -> bool:
    before = known.get(document_id) if known else None
    return before is not None and before.sent_hash == sent_hash


def _prepare_here(envelope: tuple, encoded: list[bytes], settings: Settings, now: datetime, sent: list[str],
                  known: dict[str, KnownDocument]) -> tuple:
    """Runs in the worker: the publish prepared, its new chunks embedded with BM25, every document encoded
    on its own. Bad input comes back as ("invalid", detail, extra) to be raised again as it was."""
    version, captured_at, valid_until = envelope
    documents = [DocumentIn(**msgspec.msgpack.decode(data)) for data in encoded]
    body = PublishRequest(documents=documents, version=version, captured_at=captured_at, valid_until=valid_until)
    try:
        prepared = prepare(body, settings, now, sent, known)
    except InvalidInput as exc:
        return ("invalid", exc.detail, exc.extra)
    for doc in prepared.documents:
        if doc.kept_chunks is None:
            doc.sparse = [msgspec.msgpack.encode(bm25_document(text)) for text in doc.chunks]
            doc.vectors = None
    return ("prepared", prepared.content_hash, prepared.captured_at, prepared.vector_size,
            [msgspec.msgpack.encode(doc) for doc in prepared.documents])


workers = PrepareWorkers()
atexit.register(workers.close)
