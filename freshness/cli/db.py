"""`freshness db upgrade`: the database schema, through the Alembic migrations."""

from __future__ import annotations

import click

from freshness.cli.common import emit_json, handled, json_option, out, read_settings


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@json_option
@handled
def db_upgrade(as_json: bool) -> None:
    """Apply every Alembic migration."""
    from freshness.migrate import upgrade

    settings = read_settings()
    upgrade(settings.resolved_database_url)
    if as_json:
        emit_json({"up_to_date": True, "database": _safe_url(settings.resolved_database_url)})
        return
    out.print(f"database is up to date ({_safe_url(settings.resolved_database_url)})", highlight=False)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
