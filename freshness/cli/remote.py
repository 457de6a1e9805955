"""Commands that act on the service go through its HTTP API when FRESHNESS_API_URL and FRESHNESS_KEY are set
(SPEC §9): the running service holds the embedded store, and it judges by the policy it has loaded, so its
answer is the one an application would get. Without them, a command acts in-process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from freshness.cli.common import fail

if TYPE_CHECKING:
    from freshness.client import FreshnessClient

F = TypeVar("F", bound=Callable[..., Any])

# A command waits for the service longer than an application would: an export or a reload may take a while.
TIMEOUT = 120.0


def api_options(command: F) -> F:
    """`--api-url` (FRESHNESS_API_URL) and `--key` (FRESHNESS_KEY), passed to the command as api_url and key."""
    command = click.option("--key", envvar="FRESHNESS_KEY", default=None, show_envvar=True,
                           help="API key for --api-url.")(command)
    return click.option("--api-url", envvar="FRESHNESS_API_URL", default=None, show_envvar=True,
                        help="Go through the running service, e.g. http://127.0.0.1:8000.")(command)


@contextmanager
def service(api_url: str, key: str | None) -> Iterator[FreshnessClient]:
    from freshness.client import FreshnessClient

    if not key:
        fail(f"{api_url} needs an API key: set FRESHNESS_KEY or pass --key")
    with FreshnessClient(api_url, key, timeout=TIMEOUT) as client:
        yield client


def store_held(command: str) -> str:
    """The one line for a command that needs the embedded store while `serve` holds it."""
    return (f"the embedded store is held by the running service; run `{command}` through it: set "
            "FRESHNESS_API_URL (e.g. http://127.0.0.1:8000) and FRESHNESS_KEY, or pass --api-url and --key")
