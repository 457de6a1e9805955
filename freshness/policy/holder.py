"""The policy in force: loaded at start, swapped atomically on reload.

What putting a policy in force takes beyond the file (refusing one that drops a class in use,
recording its version) needs the database, so the holder is handed it as `admit` and holds no
persistence of its own (`freshness.policy_repository.admit_policy` in the service).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from freshness.policy.model import Policy
from freshness.policy.parse import load_policy_file

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

Admit = Callable[["Session", Policy, datetime], None]
"""Raises `PolicyInvalid` to refuse a policy; otherwise records it in the caller's transaction."""


class PolicyHolder:
    def __init__(self, path: Path, policy: Policy, admit: Admit) -> None:
        self.path = path
        self._policy = policy
        self._admit = admit
        self._lock = threading.Lock()

    @property
    def current(self) -> Policy:
        return self._policy

    @classmethod
    def load(cls, path: Path, session: Session, now: datetime, admit: Admit) -> PolicyHolder:
        policy = load_policy_file(path)
        admit(session, policy, now)
        return cls(path, policy, admit)

    def reload(self, session: Session, now: datetime) -> tuple[Policy, bool]:
        """Read the file again; an invalid one raises and the old policy stays. Returns (policy, changed)."""
        with self._lock:
            policy = load_policy_file(self.path)
            self._admit(session, policy, now)
            changed = policy.version != self._policy.version
            self._policy = policy
            return policy, changed
