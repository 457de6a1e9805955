"""The policy's rows: the versions a service has loaded, and the check against the sources that use it.

Kept out of `policy/`, which parses, validates and judges without a database. Like every service
these functions only flush; the caller's transaction commits.

Only live sources hold a class in use. A retired source keeps its class name as history, but it
serves nothing and is never judged again, and it can no longer be changed, so counting it would
keep a class in the policy for ever.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from freshness.errors import PolicyInvalid
from freshness.models import PolicyVersion, Source
from freshness.policy.model import Policy


def classes_in_use(session: Session) -> set[str]:
    """The source classes of the sources that are not retired."""
    return set(session.scalars(select(Source.source_class).where(Source.retired_at.is_(None)).distinct()))


def check_classes_in_use(session: Session, policy: Policy) -> None:
    """A policy may not drop a source class that a live source still uses."""
    missing = sorted(classes_in_use(session) - set(policy.source_classes))
    if missing:
        raise PolicyInvalid(
            f"policy source_classes.{missing[0]}: the class is still used by live sources; "
            "keep it in the policy or move those sources first (PATCH /v1/sources/{id} with another source_class)",
            key=f"source_classes.{missing[0]}",
        )


def record_version(session: Session, policy: Policy, now: datetime) -> None:
    """Keep the policy's text under its version, once, so audit records can point at it."""
    if session.get(PolicyVersion, policy.version) is None:
        session.add(
            PolicyVersion(
                version=policy.version, canonical=policy.canonical, source_text=policy.source_text, first_loaded_at=now
            )
        )
        session.flush()


def admit_policy(session: Session, policy: Policy, now: datetime) -> None:
    """What putting a policy in force takes: refused when it drops a class in use, else its version recorded."""
    check_classes_in_use(session, policy)
    record_version(session, policy, now)


def has_loaded(session: Session, version: str) -> bool:
    """Whether any service has put this policy version in force."""
    return session.get(PolicyVersion, version) is not None


def has_loaded_any(session: Session) -> bool:
    """Whether any service has put any policy in force (a database that `serve` has used)."""
    return session.scalar(select(PolicyVersion.version).limit(1)) is not None
