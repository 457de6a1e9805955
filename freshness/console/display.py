"""How the console writes values: ages, moments, age bars. Registered as template filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment

_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def age(seconds: int | None) -> str:
    """`3d 4h`, `5h 20m`, `42s`: the two largest units, which is all a reader takes in at a glance."""
    if seconds is None:
        return "—"
    if seconds < 0:
        return "in " + age(-seconds)
    parts: list[str] = []
    rest = int(seconds)
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count or (unit == "s" and not parts):
            parts.append(f"{count}{unit}")
        if len(parts) == 2:
            break
    return " ".join(parts)


def moment(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def bar_percent(seconds: int | None, limit: int | None) -> int:
    """How full an age bar is: the age as a share of the max age, capped at 100 so a stale bar is full."""
    if seconds is None or not limit:
        return 0
    return max(0, min(100, round(100 * seconds / limit)))


def percent(rate: float | None) -> str:
    """A rate as a percentage; None (nothing to divide by) as a dash."""
    return "—" if rate is None else f"{100 * rate:.0f}%"


def short_hash(value: str | None) -> str:
    """`sha256:1a2b3c4d…`: enough to tell hashes apart on a page; the whole one is in its title."""
    if not value:
        return "—"
    prefix, _, digest = value.partition(":")
    return f"{prefix}:{digest[:12]}…" if digest else value[:19]


def register(environment: Environment) -> None:
    filters: dict[str, Any] = {"age": age, "moment": moment, "short_hash": short_hash}
    environment.filters.update(filters)
    environment.globals["bar_percent"] = bar_percent
    environment.globals["percent"] = percent
