"""The policy the commands judge by: the policy file, accepted as the service accepts it.

Why the file and not a version stored in `policy_versions`: that table records every version a
service ever loaded, with the time it was first loaded, but not which one is in force. A policy
reverted to an earlier version keeps its old row, and replicas that reloaded at different times
hold different versions. Offline, the file is what the next `serve` will put in force, so the
file is the better answer. The table still tells one thing for sure: when services have loaded
policies but never the file's, the running service judges by another version, and the command
says so on stderr.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from freshness.cli.common import err
from freshness.policy.model import Policy
from freshness.policy.parse import load_policy_file
from freshness.policy_repository import check_classes_in_use, has_loaded, has_loaded_any
from freshness.settings import Settings


def policy_in_force(settings: Settings, session: Session) -> Policy:
    """The policy file, refused (with the service's message) when it drops a class a source still uses."""
    policy = load_policy_file(settings.policy_file)
    check_classes_in_use(session, policy)
    if has_loaded_any(session) and not has_loaded(session, policy.version):
        err.print(f"note: the service has not loaded this policy file yet ({policy.version}); until a reload "
                  "(POST /v1/policy/reload) or a restart it judges by the version it loaded",
                  highlight=False, soft_wrap=True)
    return policy
