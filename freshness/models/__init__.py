"""ORM tables. Import from here so Alembic sees every table."""

from freshness.models.audit import AuditChainHead, Retrieval, RetrievalChunk
from freshness.models.jobs import JobLease, JobRun
from freshness.models.keys import ApiKey
from freshness.models.policy import PolicyVersion
from freshness.models.service_state import ServiceState
from freshness.models.sources import Chunk, Document, Snapshot, SnapshotState, Source

__all__ = [
    "ApiKey",
    "AuditChainHead",
    "Retrieval",
    "RetrievalChunk",
    "Chunk",
    "JobLease",
    "JobRun",
    "Document",
    "PolicyVersion",
    "ServiceState",
    "Snapshot",
    "SnapshotState",
    "Source",
]
