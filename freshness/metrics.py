"""Prometheus metrics, one registry per runtime (so tests and several apps in one process don't collide).

Counters and histograms are per process. Source ages and the count of sources by status are
read from the database at scrape time, so every replica reports the same, current figures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from freshness.clock import Clock
    from freshness.policy.model import Policy

log = logging.getLogger("freshness.metrics")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
PUBLISH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
# A person correcting an answer: from a glance to an hour's rework.
EDIT_BUCKETS = (0.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.retrievals = Counter(
            "freshness_retrievals", "Retrievals answered, by task class and status.",
            ["task_class", "status"], registry=r)
        self.rejected_chunks = Counter(
            "freshness_rejected_chunks", "Chunks withheld from an answer, by task class, source class and reason.",
            ["task_class", "source_class", "reason"], registry=r)
        self.retrieval_latency = Histogram(
            "freshness_retrieval_latency_seconds", "Time to answer a retrieval, audit record included.",
            buckets=LATENCY_BUCKETS, registry=r)
        self.publish_duration = Histogram(
            "freshness_publish_duration_seconds", "Time to publish a snapshot, by outcome (changed or unchanged).",
            ["outcome"], buckets=PUBLISH_BUCKETS, registry=r)
        self.job_runs = Counter(
            "freshness_job_runs", "Scheduled job runs, by job and outcome (ok or failed).",
            ["job", "outcome"], registry=r)
        self.job_failures = Counter(
            "freshness_job_failures", "Scheduled job runs that failed.", ["job"], registry=r)
        self.outcomes = Counter(
            "freshness_outcomes", "Outcomes reported for answered retrievals, by task class and outcome.",
            ["task_class", "outcome"], registry=r)
        self.edit_seconds = Histogram(
            "freshness_edit_seconds", "Time people spent correcting an answer, as its outcome reported, by task class.",
            ["task_class"], buckets=EDIT_BUCKETS, registry=r)

    def observe_retrieval(
        self, task_class: str, status: str, rejected: Iterable[tuple[str, str]], seconds: float
    ) -> None:
        """`rejected` holds (source class, reason) for each withheld chunk."""
        self.retrievals.labels(task_class, status).inc()
        self.retrieval_latency.observe(seconds)
        for source_class, reason in rejected:
            self.rejected_chunks.labels(task_class, source_class, reason).inc()

    def observe_outcome(self, task_class: str, outcome: str, edit_seconds: float | None) -> None:
        self.outcomes.labels(task_class, outcome).inc()
        if edit_seconds is not None:
            self.edit_seconds.labels(task_class).observe(edit_seconds)

    def observe_job(self, job: str, outcome: str) -> None:
        self.job_runs.labels(job, outcome).inc()
        if outcome == "failed":
            self.job_failures.labels(job).inc()

    def watch_sources(self, sessions: sessionmaker[Session], policy: Callable[[], Policy], clock: Clock) -> None:
        """Report source ages and statuses, read from the database at each scrape."""
        self.registry.register(SourceCollector(sessions, policy, clock))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class SourceCollector(Collector):
    """Source age and sources by freshness status, computed from the database when scraped."""

    def __init__(self, sessions: sessionmaker[Session], policy: Callable[[], Policy], clock: Clock) -> None:
        self._sessions = sessions
        self._policy = policy
        self._clock = clock

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        from freshness.db import read_scope
        from freshness.sources.report import count_by_status, freshness_report

        age = GaugeMetricFamily(
            "freshness_source_age_seconds", "Age of each live source's active snapshot (now - verified_at).",
            labels=["source_id", "source_class"])
        by_status = GaugeMetricFamily(
            "freshness_sources", "Live sources by freshness status.", labels=["status"])
        try:
            with read_scope(self._sessions) as session:
                rows = freshness_report(session, self._policy(), self._clock.now())
        except Exception as exc:  # a scrape must not fail because the database blinked
            log.warning("cannot read sources for metrics: %s", exc)
            return
        for row in rows:
            if row.age_seconds is not None:
                age.add_metric([row.source_id, row.source_class], row.age_seconds)
        for status, count in count_by_status(rows).items():
            by_status.add_metric([status], count)
        yield age
        yield by_status

