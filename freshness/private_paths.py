"""Files and folders that only the service's own user may read: the database and the store hold query
texts, chunk texts and audit content. Modes are set explicitly, whatever the process umask."""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def make_private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Create `path` and its missing parents as 0700. An existing `path` is tightened to 0700 too,
    unless `tighten` is false (a folder the service did not make, such as /tmp, is left alone)."""
    missing = []
    current = path.absolute()
    while not current.exists():
        missing.append(current)
        current = current.parent
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    for created in missing:
        os.chmod(created, DIR_MODE)
    if tighten and not missing:
        os.chmod(path, DIR_MODE)
    return path


def make_private_sqlite_file(path: Path) -> None:
    """Create the database file as 0600 before SQLite opens it (SQLite gives its -wal and -shm files the
    mode of the database file), and tighten files an older version created more openly."""
    make_private_dir(path.parent, tighten=False)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    os.close(fd)
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_COMPANIONS)):
        try:
            os.chmod(candidate, FILE_MODE)
        except FileNotFoundError:
            pass
