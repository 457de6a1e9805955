"""The HTTP surface's plumbing: problem details, typed request bodies, and what handlers are given."""

from freshness.api.body import JSONBody
from freshness.api.deps import (
    ADMIN_ONLY,
    BEARER,
    DEPENDENCIES,
    Caller,
    CurrentPolicy,
    ReadSession,
    Service,
    ServiceClock,
    ServiceSettings,
    Store,
    Writes,
    WriteSession,
    allow,
    authenticated,
    runtime_of,
)
from freshness.api.problem_details import EXCEPTION_HANDLERS, PROBLEM, Problem, problem, problems

__all__ = [
    "Caller", "CurrentPolicy", "ReadSession", "Service", "ServiceClock", "ServiceSettings", "Store", "WriteSession",
    "ADMIN_ONLY", "BEARER", "DEPENDENCIES", "EXCEPTION_HANDLERS", "JSONBody", "PROBLEM", "Problem", "Writes", "allow",
    "authenticated", "problem", "problems", "runtime_of",
]
