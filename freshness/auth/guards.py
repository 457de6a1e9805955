"""Who may do what: roles per endpoint and the publisher's owner binding."""

from __future__ import annotations

from freshness.auth.keys import Principal, Role
from freshness.errors import Forbidden


def key_of(role: Role) -> str:
    """The role's key with its article, as a refusal names it: `an auditor key`, `a reader key`."""
    article = "an" if role.value[0] in "aeiou" else "a"
    return f"{article} {role.value} key"


def require_role(principal: Principal, *roles: Role) -> None:
    if principal.role is Role.ADMIN or principal.role in roles:
        return
    allowed = ", ".join(r.value for r in (*roles, Role.ADMIN))
    raise Forbidden(f"{key_of(principal.role)} may not do this; it needs one of: {allowed}")


def require_owner(principal: Principal, owner: str) -> None:
    """Admins act on any source; a publisher only on its own owner's sources."""
    if principal.role is Role.ADMIN:
        return
    if principal.role is Role.PUBLISHER and principal.owner == owner:
        return
    if principal.role is Role.PUBLISHER:
        raise Forbidden(f"this publisher key is bound to owner {principal.owner!r}, not {owner!r}")
    raise Forbidden(f"{key_of(principal.role)} may not change sources; it needs a publisher or admin key")
