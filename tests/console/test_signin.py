"""Signing in to the console: a key is exchanged for a session cookie that holds only the key's id."""

from __future__ import annotations

from dataclasses import replace

from litestar.testing import TestClient
from sqlalchemy import select

from freshness.app import create_app
from freshness.auth.keys import hash_key, revoke_key
from freshness.db import make_engine, make_session_factory, session_scope
from freshness.models import ApiKey
from tests.console.conftest import csrf_token, form_post, sign_in

PAGES = ["/console", "/console/freshness", "/console/requests", "/console/requests/req-1",
         "/console/sources/refunds", "/console/snapshots/snap-1", "/console/sources/refunds/verify",
         "/console/sources/refunds/retire", "/console/snapshots/snap-1/activate", "/console/snapshots/snap-1/export"]


def _session_cookie_header(response) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith("freshness_console=")]
    assert len(headers) == 1, response.headers
    return headers[0]


def test_every_page_sends_a_browser_without_a_session_to_sign_in(client):
    for path in PAGES:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/console/login?next="), path
    sign_in_page = client.get("/console/login")
    assert sign_in_page.status_code == 200
    assert '<label for="key">API key</label>' in sign_in_page.text


def test_the_session_cookie_holds_the_key_id_never_the_key(client, keys):
    form = client.get("/console/login")
    answer = client.post("/console/login", data={"key": keys.auditor, "_csrf_token": csrf_token(form.text)},
                         follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/requests"
    header = _session_cookie_header(answer)
    attributes = [part.strip().lower() for part in header.split(";")]
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/console" in attributes
    assert "secure" not in attributes  # plain HTTP and no setting: a browser would drop a Secure cookie
    assert keys.auditor not in header
    assert keys.auditor[3:] not in header
    assert keys.auditor not in answer.text
    assert client.get("/console/requests").status_code == 200


def test_the_cookie_is_secure_over_tls(settings, clock, keys):
    with TestClient(app=create_app(settings, clock=clock), base_url="https://console.example") as tls:
        sign_in(tls, keys.reader)
        answer = tls.post("/console/login", data={"key": keys.reader,
                                                  "_csrf_token": csrf_token(tls.get("/console/login").text)},
                          follow_redirects=False)
        assert "secure" in [p.strip().lower() for p in _session_cookie_header(answer).split(";")]
        assert tls.get("/console/freshness").status_code == 200


def test_a_setting_makes_the_cookies_secure_behind_a_tls_proxy(settings, clock, keys):
    # The proxy ends TLS, so the app sees plain HTTP: the setting alone marks both cookies Secure.
    with TestClient(app=create_app(replace(settings, console_secure_cookie=True), clock=clock)) as proxied:
        form = proxied.get("/console/login")
        csrf_cookie = form.headers["set-cookie"].lower()
        assert csrf_cookie.startswith("freshness_csrf=") and "secure" in csrf_cookie
        token = csrf_token(form.text)
        # The test client keeps Secure cookies for https, so the browser's cookie is sent by hand here.
        proxied.cookies.clear()
        answer = proxied.post("/console/login", data={"key": keys.reader, "_csrf_token": token},
                              headers={"cookie": f"freshness_csrf={token}"}, follow_redirects=False)
        assert answer.status_code == 303
        assert "secure" in [p.strip().lower() for p in _session_cookie_header(answer).split(";")]


def test_a_wrong_key_is_refused_and_not_echoed(client, keys):
    wrong = "fk_" + "x" * 40
    form = client.get("/console/login")
    answer = client.post("/console/login", data={"key": wrong, "_csrf_token": csrf_token(form.text)})
    assert answer.status_code == 401
    assert "unknown or revoked" in answer.text
    assert wrong not in answer.text
    assert "freshness_console" not in client.cookies
    assert client.get("/console/freshness", follow_redirects=False).status_code == 303


def test_pages_may_not_be_framed_cached_or_load_from_elsewhere(client, keys):
    sign_in(client, keys.reader)
    for path in ["/console/login", "/console/freshness"]:
        headers = client.get(path).headers
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
        assert headers["x-frame-options"] == "DENY"
        assert headers["cache-control"] == "no-store"


def test_an_empty_key_is_asked_for_again(client):
    form = client.get("/console/login")
    answer = client.post("/console/login", data={"key": " ", "_csrf_token": csrf_token(form.text)})
    assert answer.status_code == 401
    assert "Enter your API key" in answer.text


def test_a_revoked_key_loses_its_session_at_the_next_page(client, keys, settings, clock):
    sign_in(client, keys.auditor)
    assert client.get("/console/requests").status_code == 200
    engine = make_engine(settings.resolved_database_url)
    with session_scope(make_session_factory(engine)) as session:
        row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(keys.auditor)))
        revoke_key(session, row.id, clock.now())
    engine.dispose()
    answer = client.get("/console/requests", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login")


def test_a_session_ends_after_twelve_hours(client, keys, clock):
    sign_in(client, keys.reader)
    clock.advance(hours=11, minutes=59)
    assert client.get("/console/freshness").status_code == 200
    clock.advance(minutes=2)
    assert client.get("/console/freshness", follow_redirects=False).status_code == 303


def test_a_forged_cookie_is_no_session(client, keys):
    sign_in(client, keys.reader)
    value = client.cookies["freshness_console"]
    body, signature = value.split(".")
    client.cookies.set("freshness_console", f"{body}x.{signature}", path="/console")
    assert client.get("/console/freshness", follow_redirects=False).status_code == 303


def test_sign_out_clears_the_session(client, keys):
    sign_in(client, keys.reader)
    answer = form_post(client, "/console/freshness", "/console/logout")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login?signed_out=true"
    assert "max-age=0" in _session_cookie_header(answer).lower()
    assert client.get("/console/freshness", follow_redirects=False).status_code == 303


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(client, keys):
    form = client.get("/console/login?next=/console/sources/refunds")
    assert 'value="/console/sources/refunds"' in form.text
    answer = client.post("/console/login", data={"key": keys.reader, "next": "/console/sources/refunds",
                                                 "_csrf_token": csrf_token(form.text)}, follow_redirects=False)
    assert answer.headers["location"] == "/console/sources/refunds"
    for elsewhere in ["https://evil.example/", "//evil.example/console/", "/console/..//evil.example"]:
        client.cookies.clear()
        form = client.get("/console/login")
        answer = client.post("/console/login", data={"key": keys.reader, "next": elsewhere,
                                                     "_csrf_token": csrf_token(form.text)}, follow_redirects=False)
        assert answer.headers["location"] == "/console/freshness", elsewhere
