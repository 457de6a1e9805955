"""Wire shapes of replay, policy dry run, outcomes and trust (SPEC §12)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from freshness.retrieval.schemas import Result, RetrievalStatus

OutcomeKind = Literal["accepted", "edited", "escalated", "rejected", "fallback"]
TrustBy = Literal["task_class", "source", "snapshot"]
ReplayPolicy = Literal["current", "recorded"]
DropReason = Literal["superseded", "retired", "stale_now", "purged", "policy_changed", "outranked"]
MAX_EDIT_SECONDS = 30 * 24 * 3600
MAX_NOTE = 4000
MAX_POLICY_TEXT = 1_000_000
Window = Annotated[str, Meta(min_length=1, max_length=64, examples=["7d"],
                             description="a duration back from now (7d, 12h) or an RFC 3339 timestamp")]


class OutcomeCreate(Struct, forbid_unknown_fields=True):
    """What became of the answer built from a retrieval's context."""

    outcome: OutcomeKind
    edit_seconds: Annotated[float, Meta(ge=0, le=MAX_EDIT_SECONDS,
                                        description="time a person spent correcting the answer")] | None = None
    note: Annotated[str, Meta(max_length=MAX_NOTE)] | None = None


class OutcomeOut(Struct):
    """An outcome as stored, beside the audit record of its request."""

    request_id: str
    outcome: OutcomeKind
    edit_seconds: float | None
    note: str | None
    task_class: str
    recorded_at: datetime


class ReplayRequest(Struct, forbid_unknown_fields=True):
    """`current`: judge under the policy in force; `recorded`: under the record's own policy version."""

    policy: ReplayPolicy = "current"


class Dropped(Result):
    """A chunk served then and not now, as it was served, with why it is gone."""

    why: DropReason


class ReplayOut(Struct):
    """The recorded request run again against today's active snapshots; nothing is recorded."""

    request_id: str
    replayed_at: datetime
    policy_version_recorded: str
    policy_version_used: str
    status_recorded: RetrievalStatus
    status_now: RetrievalStatus
    kept: list[Result]
    dropped: list[Dropped]
    added: list[Result]


class DryRunRequest(Struct, forbid_unknown_fields=True):
    """A candidate policy (TOML text) and the window of recorded requests to judge under it."""

    policy: Annotated[str, Meta(max_length=MAX_POLICY_TEXT)]
    since: Window
    until: Window | None = None
    task_classes: Annotated[list[Annotated[str, Meta(max_length=128)]], Meta(max_length=1000)] | None = None


class DryRunExamples(Struct):
    """A few request ids of each change, newest kept last."""

    insufficient_context: list[str]
    flagged: list[str]
    newly_ok: list[str]


class DryRunClass(Struct):
    """One task class: what the candidate would have done to the requests recorded under it."""

    task_class: str
    requests: int
    chunks_rejected: dict[str, int]  # chunks served then that the candidate would not serve, by reason
    would_be_insufficient_context: int  # requests that were not, and would become, insufficient_context
    would_be_flagged: int
    would_be_newly_ok: int
    unchanged: int
    examples: DryRunExamples
    missing_from_candidate: bool = False  # the candidate has no such task class: its requests would get 422


class DryRunOut(Struct):
    """Nothing is changed by a dry run."""

    candidate_version: str
    current_version: str
    since: datetime
    until: datetime
    records: int
    chunks: int
    task_classes: list[DryRunClass]


class TrustFigures(Struct):
    """Trust figures of one group (SPEC §12); a rate is null when it would divide by zero."""

    retrievals: int
    fallback_rate: float | None
    flagged_rate: float | None
    stale_rejections: int
    outcomes: int
    trusted_completion: float | None
    correction_burden: float | None
    escalation_rate: float | None


class TrustGroup(TrustFigures):
    """A task class, a source or a snapshot. With by=snapshot: its source, predecessor and `worse`."""

    task_class: str | None = None
    source_id: str | None = None
    snapshot_id: str | None = None
    snapshot_version: str | None = None
    predecessor_id: str | None = None
    predecessor: TrustFigures | None = None
    worse: bool | None = None


class TrustThresholdsOut(Struct):
    min_outcomes: int
    max_burden_increase: float
    max_fallback_increase: float


class TrustReport(Struct):
    by: TrustBy
    since: datetime
    until: datetime
    task_class: str | None
    thresholds: TrustThresholdsOut
    groups: list[TrustGroup]
