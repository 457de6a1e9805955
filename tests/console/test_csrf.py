"""Every console form carries a CSRF token: a post without it, or with another one, changes nothing."""

from __future__ import annotations

import pytest
from litestar.middleware.csrf import generate_csrf_token

from tests.console.conftest import csrf_token, sign_in

FORMS = ["/console/sources/refunds/verify", "/console/sources/refunds/retire", "activate", "/console/logout"]


def _action(path: str, refunds: dict) -> str:
    return f"/console/snapshots/{refunds['v1']}/activate" if path == "activate" else path


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("token", ["missing", "wrong", "another browser's"])
def test_a_form_without_its_token_is_refused(client, keys, admin, refunds, form, token):
    sign_in(client, keys.admin)
    good = csrf_token(client.get("/console/freshness").text)
    fields = {}
    if token == "wrong":
        fields["_csrf_token"] = good[:-4] + "0000"
    elif token == "another browser's":
        # Signed by this service, but not the one in this browser's cookie: another page cannot know this one's.
        fields["_csrf_token"] = generate_csrf_token(client.app.csrf_config.secret)
    answer = client.post(_action(form, refunds), data=fields, follow_redirects=False)
    assert answer.status_code == 403
    assert "security token is missing or does not match" in answer.text
    source = admin.get("/v1/sources/refunds").json()
    assert source["retired_at"] is None
    assert source["active_snapshot_id"] == refunds["v2"]
    assert client.get("/console/freshness", follow_redirects=False).status_code == 200  # still signed in


@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_the_sign_in_form_needs_its_token_too(client, keys, token):
    client.get("/console/login")
    fields = {"key": keys.admin}
    if token == "wrong":
        fields["_csrf_token"] = "0" * 128
    answer = client.post("/console/login", data=fields, follow_redirects=False)
    assert answer.status_code == 403
    assert "freshness_console" not in answer.headers.get("set-cookie", "")


def test_the_json_api_takes_no_csrf_token(admin):
    # Bearer keys are not sent by a browser on its own: the API's writes need no token, and get no cookie.
    answer = admin.post("/v1/sources", json={"id": "faq", "title": "FAQ", "owner": "support", "source_class": "faq"})
    assert answer.status_code == 201
    assert "set-cookie" not in answer.headers
    assert "set-cookie" not in admin.get("/v1/sources").headers
    assert admin.get("/health").status_code == 200
