"""`freshness audit replay`, `freshness policy dry-run` and `freshness trust` (SPEC §12).

Each reads only. With FRESHNESS_API_URL and FRESHNESS_KEY set they go through the running service
(`freshness.client`); otherwise they read the database directly. A replay searches the store, so
offline it needs the embedded store, which a running `serve` holds: it then says so and points to the
HTTP API.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table

from freshness.cli.audit import audit
from freshness.cli.common import (
    emit_json,
    fail,
    fmt_age,
    fmt_time,
    handled,
    json_option,
    now,
    out,
    read_settings,
    sessions_for,
)
from freshness.cli.policy_commands import policy_group
from freshness.cli.remote import api_options, service, store_held
from freshness.errors import StoreLocked
from freshness.trust.schemas import DryRunOut, ReplayOut, TrustReport

T = TypeVar("T")


def _through_api(api_url: str, key: str | None, send: Callable[[Any], T]) -> T:
    """One call through the running service; a refusal is one line with its status."""
    from freshness.client import FreshnessAPIError, FreshnessClientError

    with service(api_url, key) as client:
        try:
            return send(client)
        except FreshnessAPIError as exc:
            fail(f"{exc.status}: {exc.detail}")
        except FreshnessClientError as exc:
            fail(str(exc))


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


@click.command("replay")
@click.argument("request_id")
@click.option("--policy", "which", type=click.Choice(["current", "recorded"]), default="current", show_default=True,
              help="Judge under the policy in force, or under the record's own policy version.")
@api_options
@json_option
@handled
def replay_command(request_id: str, which: str, api_url: str | None, key: str | None, as_json: bool) -> None:
    """Re-run a recorded request against today's active snapshots; nothing is recorded."""
    if api_url:
        answer = _through_api(api_url, key, lambda client: client.replay(request_id, policy=which))
    else:
        answer = _replay_in_process(request_id, which)
    if as_json:
        emit_json(answer)
        return
    out.print(f"request {answer.request_id}  replayed {fmt_time(answer.replayed_at)}  status "
              f"{answer.status_recorded} then, {answer.status_now} now", highlight=False)
    out.print(f"policy recorded {answer.policy_version_recorded}, used {answer.policy_version_used}", highlight=False)
    table = Table("", "source", "document", "snapshot", "freshness", "age", "why", "text")
    for mark, chunks in (("kept", answer.kept), ("added", answer.added)):
        for c in chunks:
            table.add_row(mark, c.source_id, c.document_id, c.snapshot_id, c.freshness, fmt_age(c.age_seconds), "",
                          c.text[:60])
    for d in answer.dropped:
        table.add_row("dropped", d.source_id, d.document_id, d.snapshot_id, d.freshness, fmt_age(d.age_seconds),
                      d.why, d.text[:60])
    out.print(table)


def _replay_in_process(request_id: str, which: str) -> ReplayOut:
    from freshness.db import read_scope
    from freshness.runtime import open_runtime
    from freshness.trust.replay import replay

    settings = read_settings()
    try:
        runtime = open_runtime(settings)
    except StoreLocked:
        fail(store_held(f"freshness audit replay {request_id}"))
    try:
        with read_scope(runtime.sessions) as session:
            return replay(runtime, session, request_id, "recorded" if which == "recorded" else "current",
                          runtime.policy.current)
    finally:
        runtime.close()


@click.command("dry-run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--since", required=True, help="RFC 3339, or a duration back from now (7d).")
@click.option("--until", default=None, help="RFC 3339, or a duration back from now; default now.")
@click.option("--task-class", "task_classes", multiple=True, help="Only this task class (repeatable).")
@api_options
@json_option
@handled
def dry_run_command(file: Path, since: str, until: str | None, task_classes: tuple[str, ...], api_url: str | None,
                    key: str | None, as_json: bool) -> None:
    """Judge the requests recorded since SINCE under the candidate policy FILE; nothing changes."""
    text = file.read_text(encoding="utf-8")
    only = list(task_classes) or None
    if api_url:
        result = _through_api(api_url, key, lambda client: client.policy_dry_run(text, since=since, until=until,
                                                                                   task_classes=only))
    else:
        result = _dry_run_in_process(text, since, until, only)
    if as_json:
        emit_json(result)
        return
    out.print(f"candidate {result.candidate_version} (in force: {result.current_version}); {result.records} "
              f"records, {result.chunks} chunks, {fmt_time(result.since)} to {fmt_time(result.until)}",
              highlight=False)
    table = Table("task class", "requests", "chunks now withheld", "→ insufficient", "→ flagged", "→ ok", "unchanged",
                  "examples")
    for c in result.task_classes:
        withheld = ", ".join(f"{reason} {count}" for reason, count in c.chunks_rejected.items())
        examples = " ".join(c.examples.insufficient_context[:2] + c.examples.flagged[:2] + c.examples.newly_ok[:2])
        table.add_row(c.task_class + (" (not in the candidate)" if c.missing_from_candidate else ""),
                      str(c.requests), withheld, str(c.would_be_insufficient_context), str(c.would_be_flagged),
                      str(c.would_be_newly_ok), str(c.unchanged), examples)
    out.print(table)


def _dry_run_in_process(text: str, since: str, until: str | None, task_classes: list[str] | None) -> DryRunOut:
    from freshness.cli.policy import policy_in_force
    from freshness.db import read_scope
    from freshness.trust.dry_run import dry_run
    from freshness.trust.endpoints import window

    settings = read_settings()
    with read_scope(sessions_for(settings)) as session:
        start, end = window(since, until, now())
        return dry_run(session, text, policy_in_force(settings, session), start, end, task_classes)


@click.command("trust")
@click.option("--since", default="7d", show_default=True, help="RFC 3339, or a duration back from now.")
@click.option("--until", default=None, help="RFC 3339, or a duration back from now; default now.")
@click.option("--by", type=click.Choice(["task_class", "source", "snapshot"]), default="task_class",
              show_default=True)
@click.option("--task-class", default=None, help="Only retrievals of this task class.")
@api_options
@json_option
@handled
def trust_command(since: str, until: str | None, by: str, task_class: str | None, api_url: str | None,
                  key: str | None, as_json: bool) -> None:
    """Trust figures: fallback and flagged rates, outcomes, trusted completion, correction burden."""
    grouping = "source" if by == "source" else "snapshot" if by == "snapshot" else "task_class"
    if api_url:
        report = _through_api(api_url, key, lambda client: client.trust(since=since, until=until, by=grouping,
                                                                          task_class=task_class))
    else:
        report = _trust_in_process(since, until, grouping, task_class)
    if as_json:
        emit_json(report)
        return
    columns = ["snapshot", "source", "predecessor", "worse"] if by == "snapshot" else [by]
    table = Table(*columns, "retrievals", "fallback", "flagged", "stale rejections", "outcomes", "trusted",
                  "burden (s)", "escalated")
    for g in report.groups:
        keys = ([g.snapshot_id or "", g.source_id or "", g.predecessor_id or "", "yes" if g.worse else "no"]
                if by == "snapshot" else [(g.task_class if by == "task_class" else g.source_id) or ""])
        table.add_row(*keys, str(g.retrievals), _rate(g.fallback_rate), _rate(g.flagged_rate),
                      str(g.stale_rejections), str(g.outcomes), _rate(g.trusted_completion),
                      "" if g.correction_burden is None else f"{g.correction_burden:.1f}", _rate(g.escalation_rate))
    out.print(table)


def _trust_in_process(since: str, until: str | None, by: str, task_class: str | None) -> TrustReport:
    from freshness.cli.policy import policy_in_force
    from freshness.db import read_scope
    from freshness.trust.endpoints import window
    from freshness.trust.report import trust_report

    settings = read_settings()
    with read_scope(sessions_for(settings)) as session:
        start, end = window(since, until, now())
        return trust_report(session, by, start, end, task_class,  # type: ignore[arg-type]  # a Choice of TrustBy
                            policy_in_force(settings, session).trust)


audit.add_command(replay_command)
policy_group.add_command(dry_run_command)
