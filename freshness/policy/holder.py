"""The policy in force: loaded at start, swapped atomically on reload, every version recorded."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from freshness.errors import PolicyInvalid
from freshness.models import PolicyVersion, Source
from freshness.policy.model import Policy
from freshness.policy.parse import load_policy_file


def check_classes_in_use(session: Session, policy: Policy) -> None:
    """A policy may not drop a source class that a registered source still uses."""
    used = set(session.scalars(select(Source.source_class).distinct()))
    missing = sorted(used - set(policy.source_classes))
    if missing:
        raise PolicyInvalid(
            f"policy source_classes.{missing[0]}: the class is still used by registered sources; "
            "keep it in the policy or move those sources first (PATCH /v1/sources/{id} with another source_class)",
            key=f"source_classes.{missing[0]}",
        )


def record_version(session: Session, policy: Policy, now: datetime) -> None:
    if session.get(PolicyVersion, policy.version) is None:
        session.add(
            PolicyVersion(
                version=policy.version, canonical=policy.canonical, source_text=policy.source_text, first_loaded_at=now
            )
        )
        session.flush()


class PolicyHolder:
    def __init__(self, path: Path, policy: Policy) -> None:
        self.path = path
        self._policy = policy
        self._lock = threading.Lock()

    @property
    def current(self) -> Policy:
        return self._policy

    @classmethod
    def load(cls, path: Path, session: Session, now: datetime) -> PolicyHolder:
        policy = load_policy_file(path)
        check_classes_in_use(session, policy)
        record_version(session, policy, now)
        return cls(path, policy)

    def reload(self, session: Session, now: datetime) -> tuple[Policy, bool]:
        """Read the file again; an invalid one raises and the old policy stays. Returns (policy, changed)."""
        with self._lock:
            policy = load_policy_file(self.path)
            check_classes_in_use(session, policy)
            record_version(session, policy, now)
            changed = policy.version != self._policy.version
            self._policy = policy
            return policy, changed
