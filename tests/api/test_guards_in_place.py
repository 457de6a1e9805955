"""Guards that read nothing are coroutines: Litestar runs a plain-function guard on a worker thread, a thread
hop there and back on every request."""

from __future__ import annotations

import inspect

from freshness.api.deps import allow
from freshness.audit.endpoints import _declared_query_only
from freshness.auth.keys import Role


def test_the_role_guard_and_the_query_guard_run_on_the_event_loop():
    assert inspect.iscoroutinefunction(allow(Role.READER))
    assert inspect.iscoroutinefunction(allow())
    assert inspect.iscoroutinefunction(_declared_query_only)
