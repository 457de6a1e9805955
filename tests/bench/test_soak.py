"""The soak: its checks catch what they claim to catch, and a short run against serve holds every invariant."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import run
from bench.soak_check import Findings, check_answers
from bench.soak_traffic import Answer, Change

STATES = {"snap-a": ("src", "superseded"), "snap-b": ("src", "active"), "snap-x": ("other", "superseded"),
          "snap-f": ("src", "failed")}
# snap-a active from 1.0 (its publish ran 1.0-2.0) until a publish of snap-b (5.0-6.0) replaced it;
# the source "other" was retired by a write that ran 8.0-9.0.
CHANGES = [Change("src", 1.0, 2.0, "snap-a"), Change("src", 5.0, 6.0, "snap-b"),
           Change("other", 0.5, 0.8, "snap-x"), Change("other", 8.0, 9.0, None, retired=True)]


def _answer(request_id: str, started: float, ended: float, *served: tuple[str, str]) -> Answer:
    return Answer(request_id, started, ended, tuple((s, snap, f"chunk-{i}") for i, (s, snap) in enumerate(served)))


def _record(answer: Answer) -> dict:
    return {"results": [{"source_id": s, "snapshot_id": snap, "chunk_id": c} for s, snap, c in answer.served]}


def _check(*answers: Answer, records: dict | None = None) -> Findings:
    findings = Findings()
    records = {a.request_id: _record(a) for a in answers} if records is None else records
    check_answers(findings, list(answers), CHANGES, records, STATES)
    return findings


def test_an_answer_may_serve_what_was_active_at_some_moment_of_its_request() -> None:
    findings = _check(
        _answer("before-replacement", 3.0, 3.5, ("src", "snap-a")),
        _answer("during-the-publish", 5.5, 5.6, ("src", "snap-a")),  # the switch may not have committed yet
        _answer("after-it", 6.5, 7.0, ("src", "snap-b")),
        _answer("before-retirement", 8.5, 8.7, ("other", "snap-x")),
    )
    assert findings.answers == findings.records_found == 4
    assert not (findings.inactive or findings.retired or findings.mixed or findings.missing or findings.differ)


def test_the_checks_catch_a_replaced_snapshot_a_retired_source_and_two_snapshots_of_one_source() -> None:
    findings = _check(
        _answer("replaced", 6.5, 7.0, ("src", "snap-a")),
        _answer("too-early", 0.1, 0.9, ("src", "snap-a")),
        _answer("retired", 9.5, 9.8, ("other", "snap-x")),
        _answer("mixed", 5.5, 5.6, ("src", "snap-a"), ("src", "snap-b")),
        _answer("failed", 6.5, 7.0, ("src", "snap-f")),
    )
    assert [item.split(":")[0] for item in findings.inactive] == ["replaced", "too-early", "failed"]
    assert [item.split(":")[0] for item in findings.retired] == ["retired"]
    assert findings.mixed == ["mixed"]
    assert [item.split(":")[0] for item in findings.bad_state] == ["failed"]


def test_the_checks_catch_a_missing_record_and_a_record_that_lists_other_chunks() -> None:
    kept, lost = _answer("kept", 6.5, 7.0, ("src", "snap-b")), _answer("lost", 6.5, 7.0, ("src", "snap-b"))
    other = {"results": [{"source_id": "src", "snapshot_id": "snap-b", "chunk_id": "another"}]}
    findings = _check(kept, lost, records={"kept": other})
    assert findings.missing == ["lost"]
    assert findings.differ == ["kept"]
    assert findings.records_found == 1 and not Findings(answers=2, records_found=1, chain={"ok": True}).ok


@pytest.mark.timeout(120)
def test_a_short_soak_with_a_kill_loses_no_answer_and_keeps_the_chain(tmp_path: Path) -> None:
    outcome = run(seconds=3, after=2, clients=8, sources=6, seed=7, work=tmp_path)

    findings = outcome.findings
    assert findings.answers > 0
    assert findings.records_found == findings.answers
    assert findings.chain["ok"] and findings.chain["records_checked"] >= findings.answers
    assert outcome.log.changes, "the writers changed nothing"
    assert [name for name, held in outcome.invariants() if not held] == []
