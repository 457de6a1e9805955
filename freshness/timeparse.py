"""Points in time as callers write them: RFC 3339 with a time zone, such as `2026-11-27T10:00:00Z`.

The API's query parameters and the command line read them here, with msgspec's parser (the one
that decodes `captured_at` in a publish body), so a time one of them accepts the others accept
too. A time without a zone is refused rather than guessed: the database holds UTC, and a local
time read as UTC moves a `since` by hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from freshness.errors import InvalidInput
from freshness.policy.durations import DurationError, parse_duration

EXAMPLE = "2026-11-27T10:00:00Z"


def _read(raw: str, field: str, accepted: str) -> datetime:
    try:
        value = msgspec.convert(raw, datetime)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"{field} must be {accepted}", field=field) from exc
    if value.tzinfo is None:
        raise InvalidInput(f"{field} needs a time zone (Z or +00:00)", field=field)
    return value


def parse_timestamp(raw: str, field: str) -> datetime:
    """An aware datetime, or `InvalidInput` naming `field` (a query parameter, an option)."""
    return _read(raw, field, f"an RFC 3339 timestamp such as {EXAMPLE}")


def parse_timestamp_or_ago(raw: str, field: str, now: datetime) -> datetime:
    """Like `parse_timestamp`, and a duration (`7d`, `12h`, `P2W`) counts back from `now`."""
    try:
        seconds = parse_duration(raw)
    except DurationError:
        return _read(raw, field, f"an RFC 3339 timestamp such as {EXAMPLE} or a duration back from now such as 7d")
    try:
        return now - timedelta(seconds=seconds)
    except OverflowError as exc:
        raise InvalidInput(f"{field} reaches back before the year 1", field=field) from exc
