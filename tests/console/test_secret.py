"""The console's signing secret: generated once into the data dir (owner only), or given as a setting."""

from __future__ import annotations

import stat
from dataclasses import replace

import pytest

from freshness.console.secret import SECRET_FILE, load_console_keys
from freshness.console.session import COOKIE, SessionCookies
from freshness.errors import ConfigError
from tests.console.conftest import sign_in


def test_a_secret_is_generated_once_into_a_private_file(settings):
    first = load_console_keys(settings)
    path = settings.data_dir / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_console_keys(settings) == first  # the next start signs with the same keys
    assert first.session.hex() not in path.read_text() and first.csrf not in path.read_text()
    assert first.csrf not in repr(first)


def test_the_setting_wins_and_replicas_share_it(settings, tmp_path):
    shared = "s" * 48
    one = load_console_keys(replace(settings, console_secret=shared))
    other = load_console_keys(replace(settings, console_secret=shared, data_dir=tmp_path / "replica"))
    assert one == other
    assert not (tmp_path / "replica" / SECRET_FILE).exists()
    assert one != load_console_keys(settings)


def test_a_short_secret_is_refused(settings):
    with pytest.raises(ConfigError, match="console_secret must be at least 32 characters"):
        load_console_keys(replace(settings, console_secret="too short"))


def test_a_cookie_signed_with_another_secret_is_no_session(client, keys, settings, clock):
    sign_in(client, keys.reader)
    key_id = SessionCookies(load_console_keys(settings).session, False).key_id(client.cookies[COOKIE], clock.now())
    assert key_id is not None
    elsewhere = SessionCookies(load_console_keys(replace(settings, console_secret="x" * 40)).session, False)
    assert elsewhere.key_id(client.cookies[COOKIE], clock.now()) is None
