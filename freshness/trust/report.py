"""The trust report: figures per group, and with by=snapshot each snapshot beside its predecessor.

A snapshot's predecessor is the snapshot of the same source published just before it (failed and
unfinished publishes are no content and are skipped). Both are measured over the same window; a
predecessor that served nothing in it has empty figures and so is never compared.

`worse` (SPEC §12): both have at least `min_outcomes` outcomes, and the snapshot's correction burden
exceeds the predecessor's by more than `max_burden_increase` (a fraction of the predecessor's), or its
fallback rate exceeds the predecessor's by more than `max_fallback_increase` (a difference of rates).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from freshness.models import Snapshot, SnapshotState
from freshness.policy.model import TrustThresholds
from freshness.trust.figures import Counts, group_counts
from freshness.trust.schemas import TrustBy, TrustFigures, TrustGroup, TrustReport, TrustThresholdsOut

_CONTENT_STATES = (SnapshotState.ACTIVE, SnapshotState.SUPERSEDED, SnapshotState.PURGED)


def trust_report(session: Session, by: TrustBy, since: datetime, until: datetime, task_class: str | None,
                 thresholds: TrustThresholds) -> TrustReport:
    counts = group_counts(session, by, since, until, task_class)
    if by == "snapshot":
        groups = _snapshot_groups(session, counts, thresholds)
    else:
        field = "task_class" if by == "task_class" else "source_id"
        groups = [_group(counts[key].figures(), **{field: key}) for key in sorted(counts)]
    return TrustReport(
        by=by, since=since, until=until, task_class=task_class,
        thresholds=TrustThresholdsOut(min_outcomes=thresholds.min_outcomes,
                                      max_burden_increase=thresholds.max_burden_increase,
                                      max_fallback_increase=thresholds.max_fallback_increase),
        groups=groups,
    )


def _group(figures: TrustFigures, **keys: Any) -> TrustGroup:
    return TrustGroup(**{name: getattr(figures, name) for name in TrustFigures.__struct_fields__}, **keys)


def _snapshot_groups(session: Session, counts: dict[str, Counts], thresholds: TrustThresholds) -> list[TrustGroup]:
    if not counts:
        return []
    measured = session.execute(select(Snapshot.id, Snapshot.source_id).where(Snapshot.id.in_(sorted(counts)))).all()
    sources = sorted({source_id for _, source_id in measured})
    history: dict[str, list[tuple[str, str | None]]] = {}
    rows = session.execute(
        select(Snapshot.source_id, Snapshot.id, Snapshot.version)
        .where(Snapshot.source_id.in_(sources), Snapshot.state.in_(_CONTENT_STATES))
        .order_by(Snapshot.source_id, Snapshot.created_at, Snapshot.id)
    )
    for source_id, snapshot_id, version in rows:
        history.setdefault(source_id, []).append((snapshot_id, version))
    groups = []
    for source_id in sources:
        timeline = history.get(source_id, [])
        for position, (snapshot_id, version) in enumerate(timeline):
            if snapshot_id not in counts:
                continue
            mine = counts[snapshot_id]
            before = timeline[position - 1][0] if position else None
            theirs = counts.get(before, Counts()) if before else None
            groups.append(_group(
                mine.figures(), source_id=source_id, snapshot_id=snapshot_id, snapshot_version=version,
                predecessor_id=before, predecessor=theirs.figures() if theirs else None,
                worse=is_worse(mine, theirs, thresholds) if theirs else False,
            ))
    return groups


def is_worse(mine: Counts, theirs: Counts, thresholds: TrustThresholds) -> bool:
    if min(mine.outcomes, theirs.outcomes) < thresholds.min_outcomes:
        return False
    burden, burden_before = mine.figures().correction_burden, theirs.figures().correction_burden
    if burden is not None and burden_before is not None \
            and burden - burden_before > thresholds.max_burden_increase * burden_before:
        return True
    fallback, fallback_before = mine.figures().fallback_rate, theirs.figures().fallback_rate
    return fallback is not None and fallback_before is not None \
        and fallback - fallback_before > thresholds.max_fallback_increase
