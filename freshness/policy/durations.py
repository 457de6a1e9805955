"""Durations as the policy file and `refresh_interval` write them: `45s`, `30m`, `12h`, `7d`, `2w`, `P7D`."""

from __future__ import annotations

import datetime as dt
import re

_SHORT = re.compile(r"^\s*\d+(\.\d+)?\s*[smhdw]\s*$")


class DurationError(ValueError):
    pass


def parse_duration(value: object) -> int:
    """Whole seconds of a duration string; months and years are refused (they have no fixed length)."""
    # Imported here: the Python client reads policies (format_duration) and installs without these parsers.
    import isodate
    import pytimeparse2

    if not isinstance(value, str) or not value.strip():
        raise DurationError(f"expected a duration such as \"7d\", \"12h\" or \"PT30M\", got {value!r}")
    text = value.strip()
    if text[:1].upper() == "P":
        try:
            parsed = isodate.parse_duration(text.upper())
        except (isodate.ISO8601Error, ValueError, OverflowError) as exc:
            raise DurationError(f"{value!r} is not an ISO 8601 duration") from exc
        if not isinstance(parsed, dt.timedelta):
            raise DurationError(f"{value!r}: months and years have no fixed length; use days or weeks")
        seconds = parsed.total_seconds()
    elif _SHORT.match(text):
        seconds = pytimeparse2.parse(text.replace(" ", ""))
        if seconds is None:
            raise DurationError(f"{value!r} is not a duration")
        if isinstance(seconds, dt.timedelta):
            seconds = seconds.total_seconds()
    else:
        raise DurationError(
            f"{value!r} is not a duration: use 45s, 30m, 12h, 7d, 2w or ISO 8601 such as P7D or PT12H"
        )
    # Compare the whole seconds that will be used: `0.5s` must not become a max age of 0.
    if int(seconds) <= 0:
        raise DurationError(f"{value!r} must be longer than zero")
    return int(seconds)


def format_duration(seconds: int) -> str:
    """The shortest exact short form: 604800 -> `7d`."""
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
