"""GET /v1/policy and POST /v1/policy/reload."""

from __future__ import annotations

from litestar import Controller, Request, get, post

from freshness.api import ANY_KEY, call, in_transaction
from freshness.auth.keys import Principal, Role
from freshness.policy.durations import format_duration
from freshness.policy.model import Policy
from freshness.runtime import Runtime


def policy_out(policy: Policy) -> dict:
    return {
        "version": policy.version,
        "source_classes": {
            name: {
                "max_age": format_duration(c.max_age),
                "max_age_seconds": c.max_age,
                "warn_age": format_duration(c.warn_age) if c.warn_age else None,
                "warn_age_seconds": c.warn_age,
            }
            for name, c in sorted(policy.source_classes.items())
        },
        "task_classes": {
            name: {
                "criticality": t.criticality.value,
                "on_stale": t.on_stale.value,
                "min_fresh_results": t.min_fresh_results,
                "source_classes": list(t.source_classes) if t.source_classes is not None else None,
                "max_age": {k: format_duration(v) for k, v in t.max_age.items()},
                "max_age_seconds": dict(t.max_age),
            }
            for name, t in sorted(policy.task_classes.items())
        },
    }


class PolicyController(Controller):
    path = "/v1/policy"
    tags = ["policy"]

    @get("/", summary="The policy in force and its version")
    async def show(self, request: Request) -> dict:
        return await call(request, ANY_KEY, lambda rt, who: policy_out(rt.policy.current))

    @post("/reload", status_code=200, summary="Reload the policy file; an invalid one is refused and the old kept")
    async def reload(self, request: Request) -> dict:
        def work(rt: Runtime, who: Principal) -> dict:
            previous = rt.policy.current.version
            policy, changed = in_transaction(rt, lambda session: rt.policy.reload(session, rt.clock.now()))
            return {**policy_out(policy), "changed": changed, "previous_version": previous}

        return await call(request, (Role.ADMIN,), work)
