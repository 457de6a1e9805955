"""What every command shares: settings, sessions, the clock, how results are printed and how a command fails.

A command fails with one line on stderr and exit code 1, never a traceback: `handled` turns the
domain's errors (and anything else) into that line. A result goes to stdout, as a table for people
or, with `--json`, as one JSON document for scripts.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, NoReturn, TypeVar

import click
import msgspec
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from freshness.auth.keys import Principal, Role
from freshness.client.errors import FreshnessAPIError, FreshnessClientError
from freshness.errors import FreshnessError, InvalidInput
from freshness.settings import Settings, load_settings

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)
OPERATOR = Principal(key_id="cli", name="command line operator", role=Role.ADMIN, owner=None)

json_option = click.option("--json", "as_json", is_flag=True, help="The result as one JSON document, for scripts.")

S = TypeVar("S")


def fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    sys.exit(1)


def handled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Domain errors become one clear line on stderr and exit code 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FreshnessError as exc:
            fail(exc.detail)
        except FreshnessAPIError as exc:  # the service's own words, as in-process
            fail(exc.detail)
        except FreshnessClientError as exc:  # no answer from the service
            fail(str(exc))
        except Exception as exc:  # the database is down, a file is missing...
            if isinstance(exc, (click.exceptions.Exit, click.ClickException)):
                raise
            fail(f"{type(exc).__name__}: {exc}")

    return wrapper


def read_settings() -> Settings:
    return load_settings()


def sessions_for(settings: Settings) -> sessionmaker[Session]:
    """Sessions on an engine of this command; its connections close when the command ends.

    A process ends with its command, but not one that runs commands in process (tests, an embedding
    program): an engine left open there keeps its pooled connections, and PostgreSQL's connection
    limit is soon reached."""
    from freshness.db import make_engine, make_session_factory

    engine = make_engine(settings.resolved_database_url)
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(engine.dispose)
    return make_session_factory(engine)


def now() -> datetime:
    from freshness.clock import SystemClock

    return SystemClock().now()


def emit_json(value: Any) -> None:
    """Structs, datetimes and plain data as one line of JSON on stdout."""
    click.echo(msgspec.json.encode(value).decode())


def convert(kind: type[S], data: dict[str, Any]) -> S:
    """Option values checked by the same Struct the API decodes its bodies into."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc)) from exc


def fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def fmt_age(seconds: int | None) -> str:
    """An age for a table cell: `2.5d`, `3.0h`, `45s`."""
    if seconds is None:
        return ""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds}s"
