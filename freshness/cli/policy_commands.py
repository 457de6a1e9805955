"""`freshness policy ...`: the policy in force, its reload, and a dry run of a candidate (SPEC §9, §12)."""

from __future__ import annotations

import click
from rich.table import Table

from freshness.cli.common import emit_json, handled, json_option, out, read_settings, sessions_for
from freshness.cli.policy import policy_in_force
from freshness.cli.remote import api_options, service
from freshness.policy.model import Policy
from freshness.policy.schemas import policy_out


@click.group("policy")
def policy_group() -> None:
    """The freshness policy: show the one in force, reload it, or try a candidate on recorded traffic."""


@policy_group.command("show")
@api_options
@json_option
@handled
def policy_show(api_url: str | None, key: str | None, as_json: bool) -> None:
    """The policy in force: through the service, the one it judges by; offline, the policy file."""
    if api_url:
        with service(api_url, key) as client:
            shown = client.get_policy()
    else:
        shown = policy_out(_policy_file())
    if as_json:
        emit_json(shown)
        return
    out.print(f"policy {shown.version}", highlight=False)
    classes = Table("source class", "max age", "warn age")
    for name, c in shown.source_classes.items():
        classes.add_row(name, c.max_age, c.warn_age or "")
    out.print(classes)
    tasks = Table("task class", "criticality", "on stale", "min fresh", "source classes", "max age")
    for name, t in shown.task_classes.items():
        tasks.add_row(name, t.criticality, t.on_stale, str(t.min_fresh_results),
                      ", ".join(t.source_classes) if t.source_classes is not None else "all",
                      ", ".join(f"{k} {v}" for k, v in t.max_age.items()))
    out.print(tasks)


@policy_group.command("reload")
@api_options
@json_option
@handled
def policy_reload(api_url: str | None, key: str | None, as_json: bool) -> None:
    """Reload the policy file into the running service (an invalid file is refused and the old policy kept).

    Without FRESHNESS_API_URL no service is reached: the file is checked as a reload would check it."""
    if not api_url:
        checked = _policy_file()
        if as_json:
            emit_json({"reloaded": False, "version": checked.version})
            return
        out.print(f"the policy file is valid ({checked.version}); no service was reloaded: set FRESHNESS_API_URL "
                  "and FRESHNESS_KEY to reload the running one, or it takes the file at its next start",
                  highlight=False)
        return
    with service(api_url, key) as client:
        reloaded = client.reload_policy()
    if as_json:
        emit_json(reloaded)
        return
    if reloaded.changed:
        out.print(f"reloaded: {reloaded.previous_version} -> {reloaded.version}", highlight=False)
    else:
        out.print(f"unchanged: the service already judges by {reloaded.version}", highlight=False)


def _policy_file() -> Policy:
    from freshness.db import read_scope

    settings = read_settings()
    with read_scope(sessions_for(settings)) as session:
        return policy_in_force(settings, session)
