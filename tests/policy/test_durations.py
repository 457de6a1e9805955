"""A policy author writes durations the way people do (`7d`, `12h`) or as ISO 8601 (`P7D`);
anything without a fixed length, or not a duration at all, is refused with a message they can act on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from freshness.policy.durations import DurationError, format_duration, parse_duration

MINUTE, HOUR, DAY, WEEK = 60, 3_600, 86_400, 604_800


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45s", 45),
        ("30m", 30 * MINUTE),  # `m` is minutes, never months
        ("12h", 12 * HOUR),
        ("7d", 7 * DAY),
        ("2w", 2 * WEEK),
        (" 7d ", 7 * DAY),
    ],
)
def test_short_forms_read_as_whole_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("P7D", 7 * DAY),
        ("PT12H", 12 * HOUR),
        ("P1W", WEEK),
        ("PT30M", 30 * MINUTE),  # in the time part M is minutes
        ("P1DT2H", DAY + 2 * HOUR),
    ],
)
def test_iso_8601_durations_of_fixed_length_are_accepted(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P1Y2D", "P3M"])
def test_months_and_years_are_refused_because_they_have_no_fixed_length(text: str) -> None:
    with pytest.raises(DurationError, match="months and years have no fixed length"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_duration_is_refused_with_an_example_of_a_good_one(text: str) -> None:
    with pytest.raises(DurationError, match=r'such as "7d"'):
        parse_duration(text)


@pytest.mark.parametrize("text", ["7 days please", "seven days", "30", "1h30m", "1M", "1e3s"])
def test_prose_and_unknown_units_are_refused_listing_the_accepted_forms(text: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    message = str(caught.value)
    assert repr(text) in message
    assert "45s, 30m, 12h, 7d, 2w" in message
    assert "P7D" in message


@pytest.mark.parametrize("text", ["0s", "0d", "PT0S", "P0D"])
def test_a_zero_duration_is_refused(text: str) -> None:
    with pytest.raises(DurationError, match="must be longer than zero"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0.5s", "PT0.5S"])
def test_a_duration_shorter_than_one_second_is_refused_not_rounded_to_zero(text: str) -> None:
    # A max age of 0 would make every chunk stale; the author surely meant something else.
    with pytest.raises(DurationError, match="must be longer than zero"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["-5s", "-1d", "-P1D", "P-1D", "PT-1H"])
def test_a_negative_duration_is_refused(text: str) -> None:
    with pytest.raises(DurationError, match="not"):
        parse_duration(text)


def test_an_absurdly_long_iso_duration_is_refused_as_a_duration_error() -> None:
    # Anything else than DurationError would escape the policy parser as a crash, not a message.
    with pytest.raises(DurationError, match="P99999999999D"):
        parse_duration("P99999999999D")


@pytest.mark.parametrize("value", [7, 7.0, None, True, ["7d"], {"d": 7}])
def test_a_value_that_is_not_a_string_is_refused_showing_what_was_given(value: object) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(value)
    assert repr(value) in str(caught.value)


def test_duration_error_is_a_value_error_so_generic_validation_catches_it() -> None:
    assert issubclass(DurationError, ValueError)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(WEEK, "1w"), (2 * WEEK, "2w"), (7 * DAY + DAY, "8d"), (12 * HOUR, "12h"), (90 * MINUTE, "90m"), (45, "45s")],
)
def test_format_duration_writes_the_shortest_exact_short_form(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=1, max_value=10 * 365 * DAY))
def test_a_formatted_duration_parses_back_to_the_same_seconds(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
