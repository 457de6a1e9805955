"""What the soak checks once the load has stopped (SPEC §3 rule 8 and §8).

Every answer a client received is held against the audit log (its record exists and lists the same chunks),
against the snapshot history (the snapshots it served belong to their source and were never failed), and
against the writes the clients timed: a snapshot may be served only if some write made it active before the
answer was sent and no later write had replaced it by the time the request was made.
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field

from bench.soak_traffic import Answer, Change, client

EXPORT_PAGE = 2_000
SINGLE_LOOKUPS = 50  # answers also looked up one by one, through GET /v1/audit/retrievals/{id}
SERVABLE = ("active", "superseded", "purged")  # states a snapshot that was once active can be in now


@dataclass
class Findings:
    answers: int = 0
    records_found: int = 0
    records_total: int = 0
    missing: list[str] = field(default_factory=list)  # answers without an audit record
    differ: list[str] = field(default_factory=list)  # answers whose record lists other chunks
    inactive: list[str] = field(default_factory=list)  # served a snapshot no timed write had active then
    retired: list[str] = field(default_factory=list)  # served a source after its retirement had returned
    mixed: list[str] = field(default_factory=list)  # served two snapshots of one source
    bad_state: list[str] = field(default_factory=list)  # served a snapshot now failed, ingesting or unknown
    ingesting: list[str] = field(default_factory=list)  # snapshots still ingesting after the restart
    failed: int = 0  # publishes that ended failed (the ones the kill cut)
    unsettled: int = 0  # sources whose last write stayed of unknown outcome
    chain: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        lists = (self.missing, self.differ, self.inactive, self.retired, self.mixed, self.bad_state, self.ingesting)
        return (not any(lists) and self.records_found == self.answers and self.unsettled == 0
                and bool(self.chain.get("ok")))


def audit_records(url: str, key: str) -> dict[str, dict]:
    """Every audit record, through the JSON Lines export, a page at a time."""
    records: dict[str, dict] = {}
    cursor = None
    with client(url, key) as http:
        for _ in range(100_000):
            params = {"format": "jsonl", "limit": EXPORT_PAGE, **({"cursor": cursor} if cursor else {})}
            response = http.get("/v1/audit/retrievals", params=params, timeout=300)
            response.raise_for_status()
            for line in response.text.splitlines():
                record = json.loads(line)
                records[record["request_id"]] = record
            cursor = response.headers.get("X-Next-Cursor")
            if not cursor:
                break
    return records


def snapshot_states(url: str, key: str, source_ids: list[str]) -> dict[str, tuple[str, str]]:
    """snapshot id -> (source id, state now), from each source's history."""
    out: dict[str, tuple[str, str]] = {}
    with client(url, key) as http:
        for source_id in source_ids:
            cursor = None
            for _ in range(10_000):
                params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
                response = http.get(f"/v1/sources/{source_id}/snapshots", params=params)
                if response.status_code == 404:
                    break  # its registration never committed
                response.raise_for_status()
                page = response.json()
                out.update({s["id"]: (s["source_id"], s["state"]) for s in page["items"]})
                cursor = page["next_cursor"]
                if not cursor:
                    break
    return out


def active_windows(changes: list[Change]) -> tuple[dict[tuple[str, str], list[tuple[float, float]]], dict[str, float]]:
    """(source, snapshot) -> the intervals in which it may have been active; source -> when its retirement returned.

    Writes on one source never overlap, so a snapshot made active by write k may be active from the start of k
    until the end of write k + 1, which replaced it."""
    by_source: dict[str, list[Change]] = defaultdict(list)
    for change in sorted(changes, key=lambda c: c.started):
        by_source[change.source_id].append(change)
    windows: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    retired: dict[str, float] = {}
    for source_id, writes in by_source.items():
        for k, change in enumerate(writes):
            until = writes[k + 1].ended if k + 1 < len(writes) else math.inf
            if change.active is not None:
                windows[(source_id, change.active)].append((change.started, until))
            if change.retired:
                retired.setdefault(source_id, change.ended)
    return windows, retired


def check_answers(findings: Findings, answers: list[Answer], changes: list[Change], records: dict[str, dict],
                  states: dict[str, tuple[str, str]]) -> None:
    windows, retired = active_windows(changes)
    findings.answers = len(answers)
    for answer in answers:
        rid = answer.request_id
        record = records.get(rid)
        if record is None:
            findings.missing.append(rid)
        else:
            findings.records_found += 1
            recorded = tuple((r["source_id"], r["snapshot_id"], r["chunk_id"]) for r in record["results"])
            if recorded != answer.served:
                findings.differ.append(rid)
        snapshots_of: dict[str, set[str]] = defaultdict(set)
        for source_id, snapshot_id, _ in answer.served:
            snapshots_of[source_id].add(snapshot_id)
        if any(len(s) > 1 for s in snapshots_of.values()):
            findings.mixed.append(rid)
        for source_id, snapshot_ids in snapshots_of.items():
            for snapshot_id in snapshot_ids:
                known = states.get(snapshot_id)
                if known is None or known[0] != source_id or known[1] not in SERVABLE:
                    findings.bad_state.append(f"{rid}: {snapshot_id} of {source_id} is {known}")
                spans = windows.get((source_id, snapshot_id), [])
                if any(start <= answer.ended and until >= answer.started for start, until in spans):
                    continue
                if source_id in retired and retired[source_id] < answer.started:
                    findings.retired.append(f"{rid}: {source_id} (retired) {snapshot_id}")
                else:
                    findings.inactive.append(f"{rid}: {source_id} {snapshot_id}")


def check_singles(findings: Findings, url: str, key: str, answers: list[Answer], seed: int) -> None:
    """A sample of answers looked up one by one: the single-record endpoint must agree with the export."""
    sample = random.Random(seed).sample(answers, min(SINGLE_LOOKUPS, len(answers)))
    with client(url, key) as http:
        for answer in sample:
            response = http.get(f"/v1/audit/retrievals/{answer.request_id}")
            if response.status_code != 200:
                findings.missing.append(f"{answer.request_id} (GET answered {response.status_code})")
            elif response.json()["request_id"] != answer.request_id:
                findings.differ.append(f"{answer.request_id} (GET returned another record)")


def check(url: str, auditor_key: str, admin_key: str, answers: list[Answer], changes: list[Change],
          source_ids: list[str], unsettled: int, seed: int) -> Findings:
    findings = Findings(unsettled=unsettled)
    records = audit_records(url, auditor_key)
    findings.records_total = len(records)
    states = snapshot_states(url, admin_key, source_ids)
    findings.ingesting = sorted(s for s, (_, state) in states.items() if state == "ingesting")
    findings.failed = sum(1 for _, state in states.values() if state == "failed")
    check_answers(findings, answers, changes, records, states)
    check_singles(findings, url, auditor_key, answers, seed)
    with client(url, auditor_key) as http:
        response = http.get("/v1/audit/verify", timeout=300)
        ok = response.status_code == 200
        findings.chain = response.json() if ok else {"ok": False, "status": response.status_code}
    return findings
