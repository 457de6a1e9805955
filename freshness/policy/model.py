"""The policy in force: source classes (max ages) and task classes (what a request may be served)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from freshness.policy.durations import format_duration


class Criticality(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    STANDARD = "standard"
    LOW = "low"


class OnStale(StrEnum):
    REJECT = "reject"
    FLAG = "flag"


# The `*_text` fields keep each duration as the file wrote it (`7d`, `P7D`) for display. They are
# left out of equality and of the canonical form: respelling a duration with the same length is
# not a policy change, and versions are compared across restarts.


@dataclass(frozen=True)
class SourceClass:
    name: str
    max_age: int
    warn_age: int | None = None
    max_age_text: str | None = field(default=None, compare=False)
    warn_age_text: str | None = field(default=None, compare=False)

    @property
    def max_age_written(self) -> str:
        return self.max_age_text or format_duration(self.max_age)

    @property
    def warn_age_written(self) -> str | None:
        if self.warn_age is None:
            return None
        return self.warn_age_text or format_duration(self.warn_age)


@dataclass(frozen=True)
class TaskClass:
    name: str
    criticality: Criticality
    on_stale: OnStale
    min_fresh_results: int
    source_classes: tuple[str, ...] | None = None
    max_age: dict[str, int] = field(default_factory=dict)
    max_age_text: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def max_age_written(self) -> dict[str, str]:
        """Each override as the file wrote it (a class built in code gets the shortest short form)."""
        return {name: self.max_age_text.get(name) or format_duration(age) for name, age in self.max_age.items()}

    def allows(self, source_class: str) -> bool:
        return self.source_classes is None or source_class in self.source_classes

    def max_age_for(self, source_class: SourceClass) -> int:
        return self.max_age.get(source_class.name, source_class.max_age)


@dataclass(frozen=True)
class TrustThresholds:
    """When a snapshot's trust figures are marked `worse` than its predecessor's (SPEC §12)."""

    min_outcomes: int = 20  # both snapshots need this many outcomes before either is compared
    max_burden_increase: float = 0.5  # a fraction of the predecessor's correction burden
    max_fallback_increase: float = 0.05  # a difference of fallback rates


@dataclass(frozen=True)
class Policy:
    source_classes: dict[str, SourceClass]
    task_classes: dict[str, TaskClass]
    version: str
    canonical: dict
    source_text: str = ""
    trust: TrustThresholds = TrustThresholds()

    def strictest_max_age(self, source_class: str) -> int:
        """The shortest max age any task class that may use `source_class` applies to it."""
        klass = self.source_classes[source_class]
        ages = [t.max_age_for(klass) for t in self.task_classes.values() if t.allows(source_class)]
        return min(ages, default=klass.max_age)
