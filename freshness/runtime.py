"""The resources a running service holds: database, vector store, embedder, policy, clock."""

from __future__ import annotations

import gc
import secrets
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from freshness.audit.signing import Signer, load_signer
from freshness.audit.writer import GroupCommit
from freshness.clock import Clock, SystemClock
from freshness.db import make_engine, make_session_factory, session_scope
from freshness.metrics import Metrics
from freshness.models import ServiceState
from freshness.policy.holder import PolicyHolder
from freshness.policy_repository import admit_policy
from freshness.private_paths import make_private_dir
from freshness.retrieval.active import still_active_then_head
from freshness.retrieval.active_cache import ActiveCache
from freshness.settings import Settings
from freshness.sources.worker import workers
from freshness.vectorstore import VectorStore, open_store
from freshness.vectorstore.embedders import Embedder, make_embedder
from freshness.walcheckpoint import WalCheckpointer, start_checkpointer
from freshness.wire import CursorCodec

DENSE_SIZE_KEY = "dense_size"
CURSOR_SECRET_KEY = "cursor_secret"


def state_value(session: Session, key: str) -> str | None:
    row = session.get(ServiceState, key)
    return row.value if row else None


def settle_state_value(session: Session, key: str, value: str) -> str:
    """Set `key` unless it is set already; returns the value in force. Whoever wrote first wins,
    across sessions and replicas. Only flushes."""
    existing = state_value(session, key)
    if existing is not None:
        return existing
    try:
        # A savepoint: losing the race must not undo the rest of the caller's transaction.
        with session.begin_nested():
            session.add(ServiceState(key=key, value=value))
        return value
    except IntegrityError:
        # Another session inserted it after our read and committed: its value stands.
        return session.scalar(select(ServiceState.value).where(ServiceState.key == key)) or value


def ensure_state_value(session_factory: sessionmaker[Session], key: str, value: str) -> str:
    """`settle_state_value` as a unit of work of its own."""
    with session_scope(session_factory) as session:
        return settle_state_value(session, key, value)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: VectorStore
    embedder: Embedder | None
    policy: PolicyHolder
    clock: Clock
    cursors: CursorCodec
    metrics: Metrics = field(default_factory=Metrics)
    # Held for the life of the process: the batch that appends concurrent retrievals' audit records in
    # one transaction, the active set as last read (revalidated by every read that uses it), the
    # collection's dense size once the database has one (it never changes after), and the publishes that
    # failed when the database would not even let them be marked failed.
    audit_batch: GroupCommit = field(init=False)
    active: ActiveCache = field(default_factory=ActiveCache)
    dense_size_known: int | None = None
    abandoned_publishes: set[str] = field(default_factory=set)
    signer: Signer | None = None  # signs audit checkpoints; None only where no checkpoint is taken
    wal: WalCheckpointer | None = None  # on an SQLite file: checkpoints its write-ahead log (freshness.walcheckpoint)

    def __post_init__(self) -> None:
        self.audit_batch = GroupCommit(self.sessions, still_active_then_head)

    def close(self) -> None:
        try:
            self.store.close()
        finally:
            try:
                if self.wal is not None:
                    self.wal.close()
            finally:
                self.engine.dispose()
                workers.close()  # the process that prepares large publishes, if one was started


def open_runtime(settings: Settings, clock: Clock | None = None, store: VectorStore | None = None) -> Runtime:
    """Open everything a process needs. The database must already be migrated."""
    clock = clock or SystemClock()
    # The data folder holds the database and the store (query texts, audit content): owner only.
    make_private_dir(settings.data_dir)
    if store is None and settings.uses_embedded_store:
        make_private_dir(settings.store_path)
    engine = make_engine(settings.resolved_database_url, timeout=settings.db_timeout)
    wal = start_checkpointer(engine)  # before the first connection: every one of them leaves checkpoints to it
    sessions = make_session_factory(engine)
    try:
        with session_scope(sessions) as session:
            policy = PolicyHolder.load(settings.policy_file, session, clock.now(), admit_policy)
            dense = state_value(session, DENSE_SIZE_KEY)
        secret = ensure_state_value(sessions, CURSOR_SECRET_KEY, secrets.token_hex(32))
        signer = load_signer(settings)  # before the store opens: a bad key stops the start cleanly
        if store is None:
            store = open_store(settings, int(dense) if dense else None)
        elif dense:
            store.ensure_dense(int(dense))
        if store.dead_index_missing():
            from freshness.sources.serving import mark_store  # it builds on this module

            mark_store(sessions, store)
        embedder = make_embedder(settings.embedder, settings.embedder_model, settings.embedder_api_key)
    except BaseException:
        if wal is not None:
            wal.close()
        engine.dispose()
        raise
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        store=store,
        embedder=embedder,
        policy=policy,
        clock=clock,
        cursors=CursorCodec(secret.encode()),
        signer=signer,
        wal=wal,
    )
    runtime.metrics.watch_sources(sessions, lambda: runtime.policy.current, clock)
    return runtime


def freeze_heap() -> None:
    """Move every object alive now out of the cycle collector's reach; `serve` calls it before it takes requests.

    What a long-running process holds from its start (modules, the app, the runtime) never becomes garbage,
    yet each full collection walks all of it with every thread stopped: while a large publish allocates,
    that paused a retrieval for up to about 160 ms. Frozen objects are no longer walked. Reference counting
    still frees them; only a reference cycle among them would never be collected, which for what a process
    holds for its whole life costs nothing."""
    gc.collect()
    gc.freeze()
