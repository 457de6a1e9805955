"""Resident memory of processes, from the kernel's own accounting in /proc (Linux).

Peaks come from VmHWM, the high-water mark of a process's own address space. wait4's ru_maxrss
is not used for peaks: Linux carries the RSS a child had between fork and exec (the parent's
pages) into it, so a child of a large process would report the parent's size."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def wait_peak_rss(process: subprocess.Popen, timeout: float | None = None) -> tuple[int, int]:
    """Wait for the child; return its exit code and ru_maxrss in bytes (see the module's note).

    After `timeout` seconds the child is killed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, 0 if deadline is None else os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            process.kill()
            deadline = None
        else:
            time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss * 1024


def status_field(pid: int, name: str) -> int:
    """A memory field of /proc/<pid>/status (VmRSS, VmHWM) in bytes; 0 if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"
