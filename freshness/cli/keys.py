"""`freshness keys create | list | revoke`: API keys, managed in the database (works while `serve` runs)."""

from __future__ import annotations

import click
from rich.table import Table

from freshness.auth.keys import Role
from freshness.cli.common import (
    emit_json,
    fmt_time,
    handled,
    json_option,
    now,
    out,
    read_settings,
    sessions_for,
)
from freshness.models import ApiKey


def _key_view(row: ApiKey) -> dict:
    return {"id": row.id, "name": row.name, "role": row.role, "owner": row.owner, "created_at": row.created_at,
            "revoked_at": row.revoked_at}


@click.group()
def keys() -> None:
    """API keys: create, list, revoke."""


@keys.command("create")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--owner", default=None, help="Owner name a publisher key is bound to.")
@click.option("--name", default=None, help="A label for the key.")
@json_option
@handled
def keys_create(role: str, owner: str | None, name: str | None, as_json: bool) -> None:
    """Create a key. The key itself is printed once, alone on the last line (with --json, as `key`)."""
    from freshness.auth.keys import create_key
    from freshness.db import session_scope

    with session_scope(sessions_for(read_settings())) as session:
        row, key = create_key(session, role, name or (f"{role} {owner}" if owner else role), now(), owner=owner)
    if as_json:
        emit_json({**_key_view(row), "key": key})
        return
    out.print(f"created {row.role} key {row.id}" + (f" for owner {row.owner}" if row.owner else ""), highlight=False)
    out.print("store it now: it is not shown again", highlight=False)
    click.echo(key)


@keys.command("list")
@json_option
@handled
def keys_list(as_json: bool) -> None:
    """Every key with its role and state (never the key itself)."""
    from freshness.auth.keys import list_keys
    from freshness.db import read_scope

    with read_scope(sessions_for(read_settings())) as session:
        views = [_key_view(row) for row in list_keys(session)]
    if as_json:
        emit_json(views)
        return
    table = Table("id", "name", "role", "owner", "created", "revoked")
    for v in views:
        table.add_row(v["id"], v["name"], v["role"], v["owner"] or "", fmt_time(v["created_at"]),
                      fmt_time(v["revoked_at"]))
    out.print(table)


@keys.command("revoke")
@click.argument("key_id")
@json_option
@handled
def keys_revoke(key_id: str, as_json: bool) -> None:
    """Revoke a key by its id; it stops working at once."""
    from freshness.auth.keys import revoke_key
    from freshness.db import session_scope

    with session_scope(sessions_for(read_settings())) as session:
        row = revoke_key(session, key_id, now())
        view = _key_view(row)
    if as_json:
        emit_json(view)
        return
    out.print(f"revoked {key_id}", highlight=False)
