"""Wire shapes of GET /v1/policy and POST /v1/policy/reload."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from freshness.policy.model import Criticality, OnStale, Policy

# Durations are shown as the policy file writes them, so an operator finds the same text in the
# file; the seconds beside them are what the service computes with.
Written = Annotated[str, Meta(description="as the policy file writes it: 7d, 36h, P7D", examples=["7d"])]


class SourceClassOut(Struct):
    max_age: Written
    max_age_seconds: int
    warn_age: Written | None
    warn_age_seconds: int | None


class TaskClassOut(Struct):
    criticality: Criticality
    on_stale: OnStale
    min_fresh_results: int
    source_classes: list[str] | None
    max_age: dict[str, Written]
    max_age_seconds: dict[str, int]


class PolicyOut(Struct):
    """The policy in force: its version (`sha256:...` of its canonical form) and every class."""

    version: str
    source_classes: dict[str, SourceClassOut]
    task_classes: dict[str, TaskClassOut]


class PolicyReloaded(PolicyOut):
    changed: bool
    previous_version: str


def policy_out(policy: Policy) -> PolicyOut:
    return PolicyOut(
        version=policy.version,
        source_classes={
            name: SourceClassOut(
                max_age=c.max_age_written,
                max_age_seconds=c.max_age,
                warn_age=c.warn_age_written,
                warn_age_seconds=c.warn_age,
            )
            for name, c in sorted(policy.source_classes.items())
        },
        task_classes={
            name: TaskClassOut(
                criticality=t.criticality,
                on_stale=t.on_stale,
                min_fresh_results=t.min_fresh_results,
                source_classes=list(t.source_classes) if t.source_classes is not None else None,
                max_age=t.max_age_written,
                max_age_seconds=dict(t.max_age),
            )
            for name, t in sorted(policy.task_classes.items())
        },
    )
