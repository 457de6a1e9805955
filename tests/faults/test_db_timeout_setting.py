"""FRESHNESS_DB_TIMEOUT is written like the other durations, or as seconds with a fraction for tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from freshness.errors import ConfigError
from freshness.settings import load_settings

CONFIG = Path(__file__).resolve().parents[2] / "config" / "freshness.toml"


@pytest.mark.parametrize(("written", "seconds"),
                         [("5s", 5.0), ("2m", 120.0), ("PT10S", 10.0), ("0.5", 0.5), ("3", 3.0)])
def test_the_timeout_reads_as_a_duration_or_seconds(written, seconds):
    assert load_settings({"FRESHNESS_DB_TIMEOUT": written}, config_file=CONFIG).db_timeout == seconds


def test_the_shipped_configuration_waits_five_seconds():
    assert load_settings({}, config_file=CONFIG).db_timeout == 5.0


@pytest.mark.parametrize("written", ["0", "soon", "-1"])
def test_a_timeout_that_is_not_a_positive_duration_is_refused_naming_the_setting(written):
    with pytest.raises(ConfigError, match="db_timeout"):
        load_settings({"FRESHNESS_DB_TIMEOUT": written}, config_file=CONFIG)
