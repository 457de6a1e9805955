"""A private PostgreSQL cluster that a fault test may stop, pause and start again.

Made with initdb on a free port in a temporary folder, run as the `postgres` user (initdb refuses
root), and removed afterwards. The shared server is never touched.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("FRESHNESS_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def available() -> str | None:
    """Why a private cluster cannot be made here, or None when it can."""
    if not (PG_BIN / "initdb").exists():
        return f"no initdb in {PG_BIN}"
    if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != "postgres":
        return "needs root (to run initdb as postgres) or the postgres user"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user"
    return None


class Cluster:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="freshness-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        user = pwd.getpwnam("postgres")
        os.chown(self.root, user.pw_uid, user.pw_gid)
        self._as_postgres(PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                          "--no-sync")
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command: object) -> None:
        args = [str(part) for part in command]
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--", *args]
        subprocess.run(args, check=True, capture_output=True, cwd=self.root)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.root / "log", "-o", options, "-w",
                          "start")

    def stop(self) -> None:
        """`pg_ctl stop -m fast`: connections are refused until `start`."""
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def processes(self) -> list[int]:
        """The postmaster and every process it started."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == postmaster:
                    children.append(int(entry.name))
        return [postmaster, *children]

    def pause(self) -> None:
        """SIGSTOP the whole server: it accepts TCP connections (the kernel does) but answers nothing."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, which: signal.Signals) -> None:
        for pid in self.processes():
            try:
                os.kill(pid, which)
            except ProcessLookupError:
                pass  # a backend that ended between the listing and the signal

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                                  capture_output=True)
            if done.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError("the private cluster did not become ready")

    def destroy(self) -> None:
        try:
            self.resume()
        except (OSError, ValueError):
            pass
        try:
            self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
