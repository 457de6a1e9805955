"""What the audit record of an answer is told: built here, so that audit needs nothing of retrieval."""

from __future__ import annotations

from freshness.audit.record import RecordedKey, RecordInput, RejectedEntry, RequestFilters, ServedEntry
from freshness.auth.keys import Principal
from freshness.policy.model import TaskClass
from freshness.retrieval.answer import Answer
from freshness.retrieval.schemas import RetrieveRequest


def record_input(answer: Answer, principal: Principal, body: RetrieveRequest, task: TaskClass,
                 hash_query_text: bool, latency_ms: int) -> RecordInput:
    response = answer.response
    filters = body.filters
    return RecordInput(
        request_id=response.request_id,
        served_at=response.served_at,
        status=response.status,
        task_class=task.name,
        criticality=task.criticality.value,
        policy_version=response.policy_version,
        principal=RecordedKey(key_id=principal.key_id, name=principal.name, role=principal.role.value),
        query=body.query,
        hash_query_text=hash_query_text,
        filters=None if filters is None else RequestFilters(
            source_ids=list(filters.source_ids), source_classes=list(filters.source_classes), tags=list(filters.tags),
        ),
        top_k=body.top_k,
        vector_given=body.vector is not None,
        latency_ms=latency_ms,
        served=[
            ServedEntry(
                rank=s.result.rank,
                chunk_id=s.result.chunk_id,
                text=s.result.text,
                score=s.result.score,
                document_id=s.result.document_id,
                uri=s.result.uri,
                age_seconds=s.verdict.age_seconds,
                max_age_seconds=s.verdict.max_age_seconds,
                freshness=s.result.freshness,
                content_hash=s.result.content_hash,
                source=s.candidate.source,
                snapshot=s.candidate.snapshot,
            )
            for s in answer.served
        ],
        rejected=[
            RejectedEntry(
                chunk_id=w.rejected.chunk_id,
                reason=w.rejected.reason,
                age_seconds=w.rejected.age_seconds,
                max_age_seconds=w.rejected.max_age_seconds,
                source=w.candidate.source,
                snapshot=w.candidate.snapshot,
            )
            for w in answer.withheld
        ],
    )
