"""`freshness audit show | export | verify | checkpoint`: read and check the audit log (works while `serve` runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import msgspec
from rich.table import Table

from freshness.cli.common import (
    emit_json,
    err,
    fail,
    fmt_age,
    handled,
    json_option,
    now,
    out,
    read_settings,
    sessions_for,
)
from freshness.timeparse import parse_timestamp_or_ago

EXPORT_PAGE = 1000


@click.group()
def audit() -> None:
    """Read and check the audit log (works while `serve` runs)."""


@audit.command("show")
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True, help="The full record as JSON.")
@handled
def audit_show(request_id: str, as_json: bool) -> None:
    """One retrieval: what was asked, what was served and rejected, and where it came from."""
    from freshness.audit.service import get_record
    from freshness.db import read_scope

    with read_scope(sessions_for(read_settings())) as session:
        record = get_record(session, request_id)
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    principal = record.get("principal") or {}
    out.print(f"request {record['request_id']}  served {record['served_at']}  status {record['status']}",
              highlight=False)
    out.print(f"task {record['task_class']} ({record['criticality']}), top_k {record['top_k']}, "
              f"policy {record['policy_version']}, key {principal.get('name')} ({principal.get('key_id')})",
              highlight=False)
    out.print(f"query: {record['query'] if record['query'] is not None else '(only its hash is kept) '}"
              f" {record['query_sha256']}", highlight=False)
    table = Table("rank", "source", "snapshot", "version", "state now", "freshness", "age", "document", "text")
    for r in record["results"]:
        snap = r.get("snapshot") or {}
        table.add_row(str(r["rank"]), r["source_id"], r["snapshot_id"], snap.get("version") or "",
                      snap.get("state_now") or "", r["freshness"], fmt_age(r["age_seconds"]), r["document_id"],
                      r["text"][:80])
    out.print(table)
    if record["rejected"]:
        rejected = Table("rejected chunk", "source", "snapshot", "reason", "age", "max age")
        for r in record["rejected"]:
            rejected.add_row(r["chunk_id"], r["source_id"], r["snapshot_id"], r["reason"], fmt_age(r["age_seconds"]),
                             fmt_age(r["max_age_seconds"]))
        out.print(rejected)
    out.print(f"record_hash {record['record_hash']}  prev_hash {record['prev_hash']}", highlight=False)


@audit.command("export")
@click.option("--snapshot", "snapshot_id", default=None, help="Only requests that touched this snapshot.")
@click.option("--source", "source_id", default=None)
@click.option("--task-class", default=None)
@click.option("--status", default=None)
@click.option("--since", default=None, help="RFC 3339 (2026-11-27T10:00:00Z), or a duration back from now (7d).")
@click.option("--until", default=None, help="RFC 3339, or a duration back from now.")
@handled
def audit_export(snapshot_id: str | None, source_id: str | None, task_class: str | None, status: str | None,
                 since: str | None, until: str | None) -> None:
    """Every matching record as JSON lines on standard output, newest first."""
    from freshness.audit.service import list_records, record_view
    from freshness.db import read_scope

    # Read both bounds before the first line is written, so a bad one fails without partial output.
    moment = now()
    since_at = parse_timestamp_or_ago(since, "--since", moment) if since is not None else None
    until_at = parse_timestamp_or_ago(until, "--until", moment) if until is not None else None
    before = None
    with read_scope(sessions_for(read_settings())) as session:
        while True:
            rows = list_records(session, snapshot_id=snapshot_id, source_id=source_id, task_class=task_class,
                                status=status, since=since_at, until=until_at, before_seq=before,
                                limit=EXPORT_PAGE)
            for row in rows[:EXPORT_PAGE]:
                click.echo(json.dumps(record_view(session, row)))
            if len(rows) <= EXPORT_PAGE:
                break
            before = rows[EXPORT_PAGE - 1].seq


@audit.command("verify")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A checkpoint taken earlier (`audit checkpoint`): also fail when the log no longer holds it.")
@json_option
@handled
def audit_verify(checkpoint_file: Path | None, as_json: bool) -> None:
    """Check the hash chain; exit 1 at the first record that was changed, deleted or inserted."""
    from freshness.audit.checkpoint import verify_with_checkpoint
    from freshness.audit.schemas import Checkpoint
    from freshness.audit.signing import load_signer
    from freshness.audit.verify import verify_chain

    settings = read_settings()
    if checkpoint_file is None:
        report = verify_chain(sessions_for(settings))
    else:
        try:
            checkpoint = msgspec.json.decode(checkpoint_file.read_bytes(), type=Checkpoint)
        except (OSError, msgspec.DecodeError) as exc:
            fail(f"{checkpoint_file} is not a checkpoint: {exc}")
        report = verify_with_checkpoint(sessions_for(settings), load_signer(settings), checkpoint)
    if as_json:
        emit_json(report)
    else:
        _print_verdict(report)
    if not report["ok"]:
        sys.exit(1)


def _print_verdict(report: dict) -> None:
    held = report.get("checkpoint")
    if report["ok"]:
        out.print(f"ok: {report['records_checked']} records, chain intact"
                  + (f"; the checkpoint at seq {held['seq']} holds" if held else ""), highlight=False)
        return
    bad = report["first_bad"]
    if bad is not None:
        err.print(f"chain broken at seq {bad['seq']} (request {bad['request_id']}): {bad['problem']}; "
                  f"{report['records_checked']} records before it are intact", highlight=False, soft_wrap=True)
    if held is not None and not held["ok"]:
        err.print(f"checkpoint at seq {held['seq']} fails: {held['reason']}", highlight=False, soft_wrap=True)


@audit.command("checkpoint")
@click.option("--json", "as_json", is_flag=True, help="On one line.")
@handled
def audit_checkpoint(as_json: bool) -> None:
    """Sign the chain head; keep the output elsewhere and check it later with `audit verify --checkpoint`."""
    from freshness.audit.checkpoint import take_checkpoint
    from freshness.audit.signing import load_signer

    settings = read_settings()
    checkpoint = take_checkpoint(sessions_for(settings), load_signer(settings), now())
    encoded = msgspec.json.encode(checkpoint)
    click.echo((encoded if as_json else msgspec.json.format(encoded, indent=2)).decode())
