"""`freshness serve` and `freshness scheduler`: the two long-running processes.

Both migrate the database first (unless told not to) and open every resource before they start
work, so an invalid policy or a store held by another process stops the start with its message.
"""

from __future__ import annotations

import signal
import threading
import time

import click

from freshness.cli.common import handled, out, read_settings
from freshness.settings import Settings


def _prepare(settings: Settings, no_migrate: bool) -> None:
    from freshness.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.migrate_on_start and not no_migrate:
        upgrade(settings.resolved_database_url)


@click.command()
@click.option("--host", default=None, help="Overrides FRESHNESS_HOST.")
@click.option("--port", type=int, default=None, help="Overrides FRESHNESS_PORT.")
@click.option("--no-scheduler", is_flag=True, help="Do not run scheduled jobs in this process.")
@click.option("--no-migrate", is_flag=True, help="Do not apply database migrations at start.")
@handled
def serve(host: str | None, port: int | None, no_scheduler: bool, no_migrate: bool) -> None:
    """Start the HTTP service (migrates the database first)."""
    import uvicorn

    from freshness.app import create_app
    from freshness.auth.keys import bootstrap_admin_key, ensure_admin_key
    from freshness.db import session_scope
    from freshness.runtime import freeze_heap, open_runtime
    from freshness.settings import with_overrides

    settings = read_settings()
    if no_scheduler:
        settings = with_overrides(settings, scheduler=False)
    _prepare(settings, no_migrate)
    runtime = open_runtime(settings)
    with session_scope(runtime.sessions) as session:
        if settings.admin_key:
            ensure_admin_key(session, settings.admin_key, runtime.clock.now())
        key = bootstrap_admin_key(session, settings.data_dir, runtime.clock.now())
    if key:
        out.print(f"Created the first admin key (also in {settings.data_dir / 'admin.key'}, mode 0600). "
                  "It is shown once:")
        out.print(key, highlight=False)
    app = create_app(settings, runtime=runtime)
    freeze_heap()
    # After a SIGTERM's graceful shutdown uvicorn raises the signal again under the handler it found. With the
    # default one the process ended there, before `runtime.close()` (the store's flush, the database's last
    # checkpoint); with this one `serve` closes what it opened and exits with 0. Off the main thread no
    # handler can be set.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_cleanly) if main_thread else None
    try:
        # h11, whatever else is installed: uvicorn picks httptools when it finds it, and that parser buffers a
        # request line and headers without a bound, where h11 refuses more than 16 KiB.
        uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="info",
                    access_log=settings.access_log, http="h11")
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the closing short
        try:
            runtime.close()
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


@click.command()
@click.option("--no-migrate", is_flag=True, help="Do not apply database migrations at start.")
@handled
def scheduler(no_migrate: bool) -> None:
    """Run the scheduled jobs without serving HTTP (next to `serve --no-scheduler` replicas)."""
    from freshness.jobs.scheduler import JobScheduler
    from freshness.runtime import open_runtime

    settings = read_settings()
    _prepare(settings, no_migrate)
    runtime = open_runtime(settings)
    jobs = JobScheduler(runtime)
    # The jobs run on the scheduler's threads; this one only waits for SIGTERM or Ctrl-C. A signal handler that
    # raised inside the scheduler's own loop could be caught and logged there, and the loop would go on. Once
    # stopped, the jobs in progress (a reconcile, a purge) are waited for before the store and the database they
    # use are closed, and a second SIGTERM cannot cut that short.
    stopping: list[int] = []  # the handler only appends: it takes no lock this thread may be holding
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    out.print(f"scheduler {jobs.holder} running: refresh, sweep, purge, reconcile (Ctrl-C stops)", highlight=False)
    try:
        jobs.start()
        # Woken now and then: a signal the kernel hands to another thread runs its handler here only once this
        # thread runs again.
        while not stopping:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        # Neither a second SIGTERM nor a second Ctrl-C cuts the wait short: closing under the job is what this
        # waits to avoid (SIGKILL still ends the process).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            jobs.shutdown()
        finally:
            try:
                runtime.close()
            finally:
                signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
                signal.signal(signal.SIGINT, interrupt)
