"""ORM tables. Import from here so Alembic sees every table."""

from freshness.models.audit import AuditChainHead, Retrieval, RetrievalChunk
from freshness.models.jobs import JobLease, JobRun
from freshness.models.keys import ApiKey
from freshness.models.outcome import Outcome
from freshness.models.policy import PolicyVersion
from freshness.models.service_state import ServiceState
from freshness.models.sources import Chunk, Document, Snapshot, SnapshotState, Source
from freshness.models.uploads import Upload, UploadDocument, UploadState

__all__ = [
    "ApiKey",
    "AuditChainHead",
    "Retrieval",
    "RetrievalChunk",
    "Chunk",
    "JobLease",
    "JobRun",
    "Outcome",
    "Document",
    "PolicyVersion",
    "ServiceState",
    "Snapshot",
    "SnapshotState",
    "Source",
    "Upload",
    "UploadDocument",
    "UploadState",
]
