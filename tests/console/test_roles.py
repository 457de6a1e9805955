"""What each role sees and may do in the console: exactly what its key may see and do through the API."""

from __future__ import annotations

import html

import pytest

from tests.console.conftest import csrf_token, form_post, sign_in

ROLES = ["admin", "reader", "auditor", "support", "catalog"]
AUDIT_READERS = {"admin", "auditor"}
SUPPORT_CHANGERS = {"admin", "support"}  # the refunds source belongs to owner "support"


@pytest.mark.parametrize("role", ROLES)
def test_pages_by_role(client, keys, refunds, role):
    sign_in(client, getattr(keys, role))
    v1 = refunds["v1"]
    # Any key reads the freshness board, sources and snapshots, as GET /v1/freshness, /v1/sources and /v1/snapshots.
    for path in ["/console/freshness", "/console/sources/refunds", f"/console/snapshots/{v1}"]:
        assert client.get(path).status_code == 200, path
    # The audit log is for auditors and admins, as GET /v1/audit/retrievals.
    for path in ["/console/requests", "/console/requests/req-late", f"/console/snapshots/{v1}/export"]:
        answer = client.get(path)
        if role in AUDIT_READERS:
            assert answer.status_code == 200, path
        else:
            assert answer.status_code == 403, path
            assert "may not do this; it needs one of: auditor, admin" in answer.text
            assert "refund days" not in answer.text
    # Changes are for the owner's publishers and admins, as POST /v1/sources/{id}/verify and the rest.
    changes = ["/console/sources/refunds/verify", "/console/sources/refunds/retire",
               f"/console/snapshots/{v1}/activate"]
    for path in changes:
        answer = client.get(path)
        assert answer.status_code == (200 if role in SUPPORT_CHANGERS else 403), path
    if role == "catalog":
        refusal = html.unescape(client.get("/console/sources/refunds/retire").text)
        assert "bound to owner 'catalog-team', not 'support'" in refusal


@pytest.mark.parametrize("role", ROLES)
def test_buttons_and_blast_radius_only_for_who_may_use_them(client, keys, refunds, role):
    sign_in(client, getattr(keys, role))
    source = client.get("/console/sources/refunds").text
    snapshot = client.get(f"/console/snapshots/{refunds['v1']}").text
    changes = ["/console/sources/refunds/verify", "/console/sources/refunds/retire",
               f"/console/snapshots/{refunds['v1']}/activate"]
    for link in changes:
        assert (link in source) == (role in SUPPORT_CHANGERS), link
    assert (f"/console/snapshots/{refunds['v1']}/activate" in snapshot) == (role in SUPPORT_CHANGERS)
    assert ("req-early" in snapshot) == (role in AUDIT_READERS)
    assert ("/console/requests" in source + snapshot) == (role in AUDIT_READERS)


@pytest.mark.parametrize("role", ["reader", "auditor", "catalog"])
def test_a_refused_change_changes_nothing(client, keys, admin, refunds, role):
    # A valid CSRF token (from the sign-out form every page carries): the refusal is the role's, not the token's.
    sign_in(client, getattr(keys, role))
    token = csrf_token(client.get("/console/freshness").text)
    for action in ["/console/sources/refunds/retire", "/console/sources/refunds/verify",
                   f"/console/snapshots/{refunds['v1']}/activate"]:
        answer = client.post(action, data={"_csrf_token": token}, follow_redirects=False)
        assert answer.status_code == 403, action
    source = admin.get("/v1/sources/refunds").json()
    assert source["retired_at"] is None
    assert source["active_snapshot_id"] == refunds["v2"]


def test_the_owner_verifies_rolls_back_and_retires(client, keys, admin, refunds, clock):
    sign_in(client, keys.support)
    clock.advance(hours=2)
    done = form_post(client, "/console/sources/refunds/verify", "/console/sources/refunds/verify")
    assert done.status_code == 303 and done.headers["location"] == "/console/sources/refunds?done=verified"
    assert admin.get("/v1/sources/refunds").json()["active_snapshot"]["verified_at"] == \
        clock.now().isoformat().replace("+00:00", "Z")
    back = form_post(client, f"/console/snapshots/{refunds['v1']}/activate",
                     f"/console/snapshots/{refunds['v1']}/activate")
    assert back.status_code == 303
    assert admin.get("/v1/sources/refunds").json()["active_snapshot_id"] == refunds["v1"]
    assert "Done: the source was activated" in client.get(back.headers["location"]).text
    gone = form_post(client, "/console/sources/refunds/retire", "/console/sources/refunds/retire")
    assert gone.status_code == 303
    assert admin.get("/v1/sources/refunds").json()["retired_at"] is not None


def test_the_console_stays_out_of_the_openapi_document(client):
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/console")]
