"""The console's signing secret: it signs session cookies and CSRF tokens.

It comes from `FRESHNESS_CONSOLE_SECRET` (replicas behind one address share it that way) or from a
file in the data dir, generated on first start with mode 0600, as the admin key and the audit signing
key are. The secret is never shown in a page, a log line or an error. Each use gets a key of its own
derived from it, so a value signed for one purpose never passes for another.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from freshness.errors import ConfigError
from freshness.private_paths import make_private_dir
from freshness.settings import Settings

SECRET_FILE = "console-secret"
MIN_SECRET_CHARS = 32


@dataclass(frozen=True, repr=False)
class ConsoleKeys:
    session: bytes
    csrf: str


def load_console_keys(settings: Settings) -> ConsoleKeys:
    secret = settings.console_secret or _file_secret(settings.data_dir / SECRET_FILE)
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(f"console_secret must be at least {MIN_SECRET_CHARS} characters long")
    root = secret.encode()
    return ConsoleKeys(
        session=hmac.new(root, b"freshness console session v1", hashlib.sha256).digest(),
        csrf=hmac.new(root, b"freshness console csrf v1", hashlib.sha256).hexdigest(),
    )


def _file_secret(path: Path) -> str:
    if not path.exists():
        _generate(path)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def _generate(path: Path) -> None:
    """Write a new secret with mode 0600; when two processes start at once, the first one's wins."""
    make_private_dir(path.parent, tighten=False)
    # Written completely under a private name first, so no process ever reads half a secret.
    partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(partial, path)
        except FileExistsError:
            pass
    finally:
        partial.unlink(missing_ok=True)
