"""GET /v1/policy and POST /v1/policy/reload."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, post

from freshness.api import ADMIN_ONLY, CurrentPolicy, Service, ServiceClock, WriteSession, problems
from freshness.policy.schemas import PolicyOut, PolicyReloaded, policy_out


class PolicyController(Controller):
    path = "/policy"
    tags = ["policy"]

    @get("/", summary="The policy in force and its version", sync_to_thread=False, responses=problems(401, 503))
    def show(self, policy: CurrentPolicy) -> PolicyOut:
        return policy_out(policy)

    @post("/reload", status_code=200, summary="Reload the policy file; an invalid one is refused and the old kept",
          guards=[ADMIN_ONLY], sync_to_thread=True, responses=problems(401, 403, 422, 503))
    def reload(self, policy: CurrentPolicy, runtime: Service, writes: WriteSession, clock: ServiceClock
               ) -> PolicyReloaded:
        reloaded, changed = writes(lambda session: runtime.policy.reload(session, clock.now()))
        fields = msgspec.structs.asdict(policy_out(reloaded))
        return PolicyReloaded(**fields, changed=changed, previous_version=policy.version)
