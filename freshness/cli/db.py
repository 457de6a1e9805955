"""`freshness db upgrade`: the database schema, through the Alembic migrations."""

from __future__ import annotations

import click

from freshness.cli.common import handled, out, read_settings


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@handled
def db_upgrade() -> None:
    """Apply every Alembic migration."""
    from freshness.migrate import upgrade

    settings = read_settings()
    upgrade(settings.resolved_database_url)
    out.print(f"database is up to date ({_safe_url(settings.resolved_database_url)})", highlight=False)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
