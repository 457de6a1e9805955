"""Replay: a recorded request run again against today's active snapshots (SPEC §12).

The recorded query, task class, filters and top_k are answered by the retrieval code itself
(retrieval.answer, retrieval.rules) in the caller's read transaction, under the policy in force
(`current`) or under the record's own policy version (`recorded`, read from `policy_versions`). A
replay writes no audit record and counts in no retrieval metric. A record keeps only whether a dense
vector was given, not the vector: the replay searches with the query text (and the configured
embedder, if any).

Chunks are matched by source, document and content hash, so a chunk carried unchanged into a newer
snapshot is `kept` (shown as served now, with its snapshot now). A chunk served then and not now is
`dropped` with the first reason that holds, in this order:

1. `retired`: its source is retired now (or has no active snapshot).
2. `purged`: its content is not in the source's active snapshot, and the snapshot it was served from
   is purged (its vectors are gone: it cannot be rolled back to).
3. `superseded`: its content is not in the source's active snapshot (a newer publish or a rollback
   changed or removed its document).
4. `policy_changed`: its content is in the active snapshot, the policy used would not serve it (stale,
   expired, or a class the task no longer takes), and the record's own policy would serve it today.
   Only with `current`: under `recorded` the policy has not changed.
5. `stale_now`: its content is in the active snapshot, and the policy used would not serve it today
   (too old or expired now, or its source's class is no longer a candidate for the task).
6. `outranked`: its content is in the active snapshot and would be served, but today's ranking fills
   top_k with other chunks.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from freshness.errors import Conflict, NotFound
from freshness.models import Chunk, PolicyVersion, Retrieval, Snapshot, SnapshotState, Source
from freshness.policy.model import Policy
from freshness.policy.parse import parse_policy
from freshness.policy.verdict import is_served, judge_for_task
from freshness.retrieval.answer import answer
from freshness.retrieval.schemas import Result, RetrieveFilters, RetrieveRequest
from freshness.runtime import DENSE_SIZE_KEY, Runtime, state_value
from freshness.trust.schemas import Dropped, DropReason, ReplayOut, ReplayPolicy

Key = tuple[str, str, str]


def _key(chunk: Any) -> Key:
    if isinstance(chunk, dict):
        return chunk["source_id"], chunk["document_id"], chunk["content_hash"]
    return chunk.source_id, chunk.document_id, chunk.content_hash


def recorded_policy(session: Session, version: str, current: Policy) -> Policy:
    """The policy a record was judged under, rebuilt from the text stored under its version."""
    if version == current.version:
        return current
    stored = session.get(PolicyVersion, version)
    if stored is None:
        raise Conflict(f"policy version {version} of this record is not stored, so it cannot be replayed under it")
    # The stored text is what was loaded under that version; the label stays the record's own.
    return dataclasses.replace(parse_policy(stored.source_text, origin=f"policy {version}"), version=version)


def replay(runtime: Runtime, session: Session, request_id: str, which: ReplayPolicy, current: Policy) -> ReplayOut:
    row = session.get(Retrieval, request_id)
    if row is None:
        raise NotFound(f"no retrieval was recorded with request id {request_id!r}")
    content = row.content
    if content.get("query") is None:
        raise Conflict("this record kept only the sha256 of its query (FRESHNESS_HASH_QUERY_TEXT), not its text, "
                       "so it cannot be replayed")
    policy = recorded_policy(session, row.policy_version, current) if which == "recorded" else current
    task = policy.task_classes.get(row.task_class)
    if task is None:
        raise Conflict(f"task class {row.task_class!r} is not in the policy in force; replay with policy=recorded")
    filters = content.get("filters") or {}
    body = RetrieveRequest(
        query=content["query"], task_class=row.task_class, top_k=content["top_k"],
        filters=msgspec.convert(filters, RetrieveFilters) if any(filters.values()) else None,
    )
    dense = state_value(session, DENSE_SIZE_KEY) if runtime.embedder is not None else None
    made = answer(runtime, session, body, task, policy, request_id, int(dense) if dense else None)
    now_results = made.response.results

    unmatched = Counter(_key(r) for r in now_results)
    kept_keys: Counter[Key] = Counter()
    dropped_then: list[dict[str, Any]] = []
    for then in content["results"]:
        key = _key(then)
        if unmatched[key] > 0:
            unmatched[key] -= 1
            kept_keys[key] += 1
        else:
            dropped_then.append(then)
    kept: list[Result] = []
    added: list[Result] = []
    for result in now_results:
        key = _key(result)
        if kept_keys[key] > 0:
            kept_keys[key] -= 1
            kept.append(result)
        else:
            added.append(result)
    judge = _Why(runtime, session, row, policy, current, which)
    dropped = [msgspec.convert({**then, "why": judge(then)}, Dropped) for then in dropped_then]
    return ReplayOut(
        request_id=request_id, replayed_at=made.response.served_at,
        policy_version_recorded=row.policy_version, policy_version_used=policy.version,
        status_recorded=row.status,  # type: ignore[arg-type]  # stored from the status Literal
        status_now=made.response.status, kept=kept, dropped=dropped, added=added,
    )


class _Why:
    """Why a chunk served then is not served now: the first reason of the module docstring that holds."""

    def __init__(self, runtime: Runtime, session: Session, record: Retrieval, used: Policy, current: Policy,
                 which: ReplayPolicy) -> None:
        self.session = session
        self.now = runtime.clock.now()
        self.record = record
        self.used = used
        self.current = current
        self.which = which

    def __call__(self, then: dict[str, Any]) -> DropReason:
        source = self.session.get(Source, then["source_id"])
        if source is None or source.retired_at is not None or source.active_snapshot_id is None:
            return "retired"
        active = self.session.get(Snapshot, source.active_snapshot_id)
        if active is None or active.state != SnapshotState.ACTIVE:
            return "retired"
        present = self.session.scalar(
            select(Chunk.chunk_id).where(Chunk.snapshot_id == active.id, Chunk.document_id == then["document_id"],
                                         Chunk.content_hash == then["content_hash"]).limit(1))
        if present is None:
            served_from = self.session.get(Snapshot, then["snapshot_id"])
            return "purged" if served_from is not None and served_from.state == SnapshotState.PURGED \
                else "superseded"
        if self._serves(self.used, source.source_class, active):
            return "outranked"
        if self.which == "current" and self.record.policy_version != self.used.version:
            recorded = recorded_policy(self.session, self.record.policy_version, self.current)
            if self._serves(recorded, source.source_class, active):
                return "policy_changed"
        return "stale_now"

    def _serves(self, policy: Policy, source_class: str, snapshot: Snapshot) -> bool:
        task = policy.task_classes.get(self.record.task_class)
        klass = policy.source_classes.get(source_class)
        if task is None or klass is None or not task.allows(source_class):
            return False
        verdict = judge_for_task(task, klass, snapshot.verified_at, snapshot.valid_until, self.now)
        return is_served(task, verdict)
