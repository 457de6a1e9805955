"""Latency series and their summaries."""

from __future__ import annotations

from dataclasses import dataclass, field


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an unsorted list."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(q / 100 * len(ordered) + 0.5))))
    return ordered[rank - 1]


@dataclass
class Series:
    """Latencies in seconds, the wall time they took, and how many calls failed."""

    name: str
    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    errors: int = 0
    notes: dict = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.latencies)

    def p(self, q: float) -> float:
        """Percentile in milliseconds."""
        return percentile(self.latencies, q) * 1000

    @property
    def throughput(self) -> float:
        return self.count / self.wall if self.wall else float("nan")

    def summary(self) -> dict:
        return {"name": self.name, "count": self.count, "errors": self.errors, "p50_ms": self.p(50),
                "p99_ms": self.p(99), "max_ms": self.p(100), "per_s": self.throughput, **self.notes}
