"""The data folder holds query texts, chunk texts and audit content: only the service's own user may
read it, whatever the umask of the process that created it, and an install made by an older version
is tightened at the next start."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from freshness.db import session_scope
from freshness.migrate import upgrade
from freshness.models import ServiceState
from freshness.runtime import open_runtime


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)  # the most open umask there is: every mode below is set on purpose
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _start(settings) -> None:
    """Migrate, start as `serve` would, and write once (SQLite makes its -wal and -shm files)."""
    upgrade(settings.resolved_database_url)
    runtime = open_runtime(settings)
    try:
        with session_scope(runtime.sessions) as session:
            session.merge(ServiceState(key="mode-test", value="x"))
        files = {name: _mode(settings.data_dir / name) for name in ("freshness.db", "freshness.db-wal",
                                                                     "freshness.db-shm")}
    finally:
        runtime.close()
    assert files == {"freshness.db": 0o600, "freshness.db-wal": 0o600, "freshness.db-shm": 0o600}
    assert _mode(settings.data_dir) == 0o700
    assert _mode(settings.store_path) == 0o700


def test_a_new_data_folder_and_database_are_private(settings, tmp_path, open_umask):
    settings = replace(settings, data_dir=tmp_path / "fresh" / "var", database_url="")

    _start(settings)

    assert _mode(tmp_path / "fresh") == 0o700  # a parent it had to make is private too


def test_an_install_made_with_open_modes_is_tightened_at_start(settings, tmp_path, open_umask):
    settings = replace(settings, data_dir=tmp_path / "old", database_url="")
    settings.store_path.mkdir(parents=True, mode=0o755)
    upgrade(settings.resolved_database_url)
    for path, mode in ((settings.data_dir, 0o755), (settings.store_path, 0o755),
                       (settings.data_dir / "freshness.db", 0o644)):
        os.chmod(path, mode)

    _start(settings)
