"""A key of the wrong role asks to reload the policy: the refusal names its key in plain English."""

from __future__ import annotations

import pytest

from freshness.auth.guards import key_of
from freshness.auth.keys import Role


@pytest.mark.parametrize(("role", "wording"), [
    ("reader", "a reader key may not do this"),
    ("auditor", "an auditor key may not do this"),
    ("support", "a publisher key may not do this"),
])
def test_a_key_without_the_admin_role_is_refused_with_the_right_article(admin, keys, role, wording) -> None:
    refused = admin.as_key(getattr(keys, role)).post("/v1/policy/reload")

    assert refused.status_code == 403
    assert refused.json()["detail"] == f"{wording}; it needs one of: admin"


@pytest.mark.parametrize(("role", "named"), [
    (Role.ADMIN, "an admin key"),
    (Role.AUDITOR, "an auditor key"),
    (Role.READER, "a reader key"),
    (Role.PUBLISHER, "a publisher key"),
])
def test_every_role_is_named_with_its_article(role: Role, named: str) -> None:
    # An admin passes every role check, so only the wording itself can show the admin's article.
    assert key_of(role) == named
