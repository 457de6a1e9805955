"""`freshness audit show | export | verify | checkpoint`: read and check the audit log (works while `serve` runs).

In-process they read the database; with FRESHNESS_API_URL and FRESHNESS_KEY they ask the service, with an
auditor's (or admin's) key, and print the same."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

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
from freshness.cli.remote import api_options, service
from freshness.timeparse import parse_timestamp_or_ago

if TYPE_CHECKING:
    from freshness.audit.schemas import Checkpoint

EXPORT_PAGE = 1000


@click.group()
def audit() -> None:
    """Read and check the audit log (works while `serve` runs)."""


@audit.command("show")
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True, help="The full record as JSON.")
@api_options
@handled
def audit_show(request_id: str, api_url: str | None, key: str | None, as_json: bool) -> None:
    """One retrieval: what was asked, what was served and rejected, and where it came from."""
    if api_url:
        with service(api_url, key) as client:
            record = msgspec.to_builtins(client.get_audit_record(request_id))
    else:
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
@click.option("--format", "format_", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True,
              help="jsonl: whole records, one per line; csv: one summary per line, the API's CSV columns.")
@click.option("--snapshot", "snapshot_id", default=None, help="Only requests that touched this snapshot.")
@click.option("--source", "source_id", default=None)
@click.option("--task-class", default=None)
@click.option("--status", default=None)
@click.option("--since", default=None, help="RFC 3339 (2026-11-27T10:00:00Z), or a duration back from now (7d).")
@click.option("--until", default=None, help="RFC 3339, or a duration back from now.")
@api_options
@handled
def audit_export(format_: str, snapshot_id: str | None, source_id: str | None, task_class: str | None,
                 status: str | None, since: str | None, until: str | None, api_url: str | None,
                 key: str | None) -> None:
    """Every matching record on standard output, newest first."""
    # Read both bounds before the first line is written, so a bad one fails without partial output.
    moment = now()
    since_at = parse_timestamp_or_ago(since, "--since", moment) if since is not None else None
    until_at = parse_timestamp_or_ago(until, "--until", moment) if until is not None else None
    filters = {"snapshot_id": snapshot_id, "source_id": source_id, "task_class": task_class, "status": status,
               "since": since_at, "until": until_at}
    if api_url:
        with service(api_url, key) as client:
            lines = client.export_audit(format="csv" if format_ == "csv" else "jsonl", snapshot_id=snapshot_id,
                                        source_id=source_id, task_class=task_class, status=status, since=since_at,
                                        until=until_at, page_size=EXPORT_PAGE)
            for line in lines:
                click.echo(line)
        return
    _export_in_process(format_, filters)


def _export_in_process(format_: str, filters: dict) -> None:
    # The API's CSV columns, from the endpoint that writes them, so both exports stay one format.
    from freshness.audit.endpoints import CSV_COLUMNS
    from freshness.audit.service import list_records, record_view, summary
    from freshness.db import read_scope

    writer = None
    if format_ == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
    before = None
    with read_scope(sessions_for(read_settings())) as session:
        while True:
            rows = list_records(session, **filters, before_seq=before, limit=EXPORT_PAGE)
            for row in rows[:EXPORT_PAGE]:
                if writer is None:
                    click.echo(json.dumps(record_view(session, row)))
                    continue
                item = msgspec.to_builtins(summary(row))
                writer.writerow({**item, "snapshot_ids": " ".join(item["snapshot_ids"])})
            if len(rows) <= EXPORT_PAGE:
                break
            before = rows[EXPORT_PAGE - 1].seq


@audit.command("verify")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A checkpoint taken earlier (`audit checkpoint`): also fail when the log no longer holds it.")
@api_options
@json_option
@handled
def audit_verify(checkpoint_file: Path | None, api_url: str | None, key: str | None, as_json: bool) -> None:
    """Check the hash chain; exit 1 at the first record that was changed, deleted or inserted."""
    from freshness.audit.schemas import Checkpoint

    checkpoint = None
    if checkpoint_file is not None:
        try:
            checkpoint = msgspec.json.decode(checkpoint_file.read_bytes(), type=Checkpoint)
        except (OSError, msgspec.DecodeError) as exc:
            fail(f"{checkpoint_file} is not a checkpoint: {exc}")
    if api_url:
        with service(api_url, key) as client:
            report = msgspec.to_builtins(client.verify_audit(checkpoint))
    else:
        report = _verify_in_process(checkpoint)
    if as_json:
        emit_json(report)
    else:
        _print_verdict(report)
    if not report["ok"]:
        sys.exit(1)


def _verify_in_process(checkpoint: Checkpoint | None) -> dict:
    from freshness.audit.checkpoint import verify_with_checkpoint
    from freshness.audit.signing import load_signer
    from freshness.audit.verify import verify_chain

    settings = read_settings()
    if checkpoint is None:
        return verify_chain(sessions_for(settings))
    return verify_with_checkpoint(sessions_for(settings), load_signer(settings), checkpoint)


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
@api_options
@handled
def audit_checkpoint(api_url: str | None, key: str | None, as_json: bool) -> None:
    """Sign the chain head; keep the output elsewhere and check it later with `audit verify --checkpoint`."""
    if api_url:
        with service(api_url, key) as client:
            checkpoint = client.checkpoint()
    else:
        from freshness.audit.checkpoint import take_checkpoint
        from freshness.audit.signing import load_signer

        settings = read_settings()
        checkpoint = take_checkpoint(sessions_for(settings), load_signer(settings), now())
    encoded = msgspec.json.encode(checkpoint)
    click.echo((encoded if as_json else msgspec.json.format(encoded, indent=2)).decode())
