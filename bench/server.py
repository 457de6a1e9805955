"""`freshness serve` as a child process on its own data dir and port, for the HTTP figures."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.memory import status_field, wait_peak_rss
from bench.workspace import POLICY, ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """Starts `freshness serve --no-scheduler`, waits on /ready; `stop()` returns its peak RSS.

    A restart on the same data passes the port and admin key of the first start, so clients keep their
    address; `database_url` puts the service on another database than the SQLite file of the data dir."""

    def __init__(self, data_dir: Path, log: Path, *, port: int | None = None, admin_key: str | None = None,
                 database_url: str | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_key = admin_key or "fk_" + secrets.token_urlsafe(32)
        env = dict(os.environ)
        env.update({
            "FRESHNESS_DATA_DIR": str(data_dir),
            "FRESHNESS_POLICY_FILE": str(POLICY),
            "FRESHNESS_PORT": str(self.port),
            "FRESHNESS_HOST": "127.0.0.1",
            "FRESHNESS_ADMIN_KEY": self.admin_key,
            "FRESHNESS_SCHEDULER": "off",
        })
        env.pop("FRESHNESS_DATABASE_URL", None)
        if database_url:
            env["FRESHNESS_DATABASE_URL"] = database_url
        command = [str(Path(sys.executable).with_name("freshness")), "serve", "--no-scheduler"]
        self._log = log.open("wb")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(log)
        except BaseException:
            # Ctrl-C or a failed start: the caller never gets this object, so nobody else would stop the child.
            self.kill()
            raise

    def _wait_ready(self, log: Path, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"freshness serve exited with {self.process.returncode}; see {log}")
            try:
                if httpx.get(self.url + "/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"freshness serve was not ready after {timeout:.0f} s; see {log}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss(self) -> int:
        return status_field(self.pid, "VmRSS")

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no shutdown code of the service runs."""
        self.process.kill()
        self.process.wait()
        self._log.close()

    def stop(self) -> int:
        """Stop the server (SIGINT, as Ctrl-C would) and return its peak RSS in bytes.

        The peak is the kernel's high-water mark of the server's own memory (VmHWM), read just
        before it stops: wait4's ru_maxrss would also count the pages the child shared with this
        process between fork and exec."""
        peak = status_field(self.pid, "VmHWM")
        self.process.send_signal(2)
        try:
            wait_peak_rss(self.process, timeout=60)
        finally:
            self._log.close()
        return peak
