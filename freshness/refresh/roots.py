"""Where a `file://` source may read: only inside the folders of FRESHNESS_FILE_ROOTS.

A `file://` uri is the service reading its own disk on a publisher's behalf, so the publisher may
reach nothing the operator did not open: a path counts as inside a root only after `..` and
symlinks are resolved, the check is made at registration and again at every read (a symlink may
change in between), and a symlink inside a folder that leads out of the roots is skipped. The
service's data dir (database, keys, store) is never read, even when a root holds it.

Messages never name a path outside the roots, nor tell whether it exists.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from freshness.errors import InvalidInput

SETTING = "FRESHNESS_FILE_ROOTS"


def file_path(uri: str) -> Path:
    """`file:///abs/path`, or `file://relative/path` (relative to the working directory)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise InvalidInput(f"uri {uri!r} is not a file:// URI", field="uri")
    host = parsed.netloc if parsed.netloc not in ("", "localhost") else ""
    path = unquote(host + parsed.path)
    if not path.strip("/") or "\x00" in path:
        raise InvalidInput(f"uri {uri!r} names no file or folder", field="uri")
    return Path(path)


@dataclass(frozen=True)
class FileRoots:
    """The folders file:// sources may read, and the folders they may never read."""

    roots: tuple[Path, ...]
    forbidden: tuple[Path, ...] = ()

    @classmethod
    def of(cls, roots: tuple[Path, ...], data_dir: Path | None = None) -> FileRoots:
        return cls(tuple(roots), (data_dir,) if data_dir is not None else ())

    def contains(self, path: Path) -> bool:
        """Whether `path`, with `..` and symlinks resolved, lies inside a root and outside the data dir."""
        real = _real(path)
        if any(_within(real, _real(folder)) for folder in self.forbidden):
            return False
        return any(_within(real, _real(root)) for root in self.roots)

    def target(self, uri: str) -> Path:
        """The resolved path a file:// uri names; InvalidInput naming the setting when it is not open."""
        path = file_path(uri)
        if not self.roots:
            raise InvalidInput(
                f"file:// sources are not enabled on this service; an operator opens folders for them with {SETTING}",
                field="uri",
            )
        if not self.contains(path):
            raise InvalidInput(f"uri {uri} is outside the folders opened by {SETTING}", field="uri")
        return _real(path)

    def walk(self, folder: Path) -> Iterator[Path]:
        """Every regular file under `folder` whose real path stays inside the roots, in a stable order.

        Symlinked folders are followed only when they lead to a folder inside the roots, and each real
        folder is visited once, so a symlink loop ends."""
        seen: set[Path] = set()
        pending = [folder]
        found: list[Path] = []
        while pending:
            current = pending.pop()
            real = _real(current)
            if real in seen or not self.contains(current):
                continue
            seen.add(real)
            try:
                entries = list(os.scandir(current))
            except OSError:
                continue
            for entry in entries:
                path = Path(entry.path)
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    pending.append(path)
                elif entry.is_file() and self.contains(path):
                    found.append(path)
        yield from sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents
