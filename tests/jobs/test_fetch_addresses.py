"""A publisher names an http(s) uri: the service connects only to public addresses, or to those the
operator opened with FRESHNESS_FETCH_ALLOW, on every connection of every redirect hop.

The loopback content server stands in for an internal admin page or a cloud metadata endpoint.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import replace

import pytest

from freshness.refresh.addresses import AddressRules, ip_literal, is_internal
from tests.conftest import register
from tests.jobs.conftest import Page

REAL_GETADDRINFO = socket.getaddrinfo
INTERNAL = "INTERNAL ADMIN PAGE: root password is hunter2"


@pytest.fixture
def settings(settings, request):
    """No exception by default; a test opens hosts with @pytest.mark.parametrize("settings", [...], indirect=True)."""
    return replace(settings, file_roots=(), fetch_allow=tuple(getattr(request, "param", ())))


@pytest.fixture
def dns(monkeypatch):
    """Names of the test's own, resolved as the test says (each answer is a list, consumed in turn)."""
    answers: dict[str, list[str]] = {}

    def fake(host, port, *args, **kwargs):
        if isinstance(host, bytes):
            host = host.decode()
        if host in answers:
            queue = answers[host]
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return answers


def _report(api, source_id: str) -> dict:
    return [i for i in api.get("/v1/freshness").json()["items"] if i["source_id"] == source_id][0]


@pytest.mark.parametrize("uri", [
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0:1/",
    "http://[::1]:1/",
    "http://2130706433:1/",
    "http://0177.0.0.1/",
    "http://0x7f.1/",
    "http://127.1:8080/",
    "http://[::ffff:127.0.0.1]/",
    "http://10.1.2.3/",
    "http://192.168.0.10/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://[fe80::1]/",
    "https://localhost:1/",
])
def test_internal_addresses_are_refused_at_registration_in_any_notation(support, uri):
    response = support.post("/v1/sources", json={"id": "probe", "title": "Probe", "owner": "support",
                                                  "source_class": "faq", "uri": uri})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "uri"
    assert "FRESHNESS_FETCH_ALLOW" in response.json()["detail"]
    assert support.get("/v1/sources/probe").status_code == 404


def test_a_name_that_resolves_inside_is_refused_and_a_public_one_is_taken(support, dns):
    dns["intranet.test"] = ["10.0.0.7"]
    dns["docs.test"] = ["93.184.216.34"]
    refused = support.post("/v1/sources", json={"id": "probe", "title": "Probe", "owner": "support",
                                                "source_class": "faq", "uri": "https://intranet.test/admin"})
    assert refused.status_code == 422
    assert "10.0.0.7" not in refused.json()["detail"]  # the internal address itself is not told
    register(support, "docs", "faq", uri="https://docs.test/returns")


def test_a_patch_cannot_point_a_source_at_an_internal_address(support, dns):
    dns["docs.test"] = ["93.184.216.34"]
    register(support, "docs", "faq", uri="https://docs.test/returns")
    moved = support.patch("/v1/sources/docs", json={"uri": "http://169.254.169.254/latest/meta-data/"})
    assert moved.status_code == 422 and "FRESHNESS_FETCH_ALLOW" in moved.json()["detail"]
    assert support.get("/v1/sources/docs").json()["uri"] == "https://docs.test/returns"


def test_a_name_that_does_not_resolve_yet_is_registered(support, monkeypatch):
    def no_such_name(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    register(support, "docs", "faq", uri="https://docs-to-come.test/returns")
    assert support.get("/v1/sources/docs").json()["uri"] == "https://docs-to-come.test/returns"


def test_a_name_that_turns_internal_after_registration_is_not_fetched(admin, run, keys, content_server, dns):
    content_server.pages["/internal-admin"] = Page(body=INTERNAL)
    port = content_server.url.rsplit(":", 1)[1]
    dns["rebind.test"] = ["93.184.216.34", "127.0.0.1"]  # public when registered, loopback when fetched
    register(admin, "probe", "faq", uri=f"http://rebind.test:{port}/internal-admin")

    assert run("refresh").counts["failed"] == 1
    assert content_server.requests == []
    error = _report(admin.as_key(keys.reader), "probe")["last_refresh"]["error"]
    assert "FRESHNESS_FETCH_ALLOW" in error and "127.0.0.1" not in error


@pytest.mark.parametrize("settings", [("public.test",)], indirect=True)
def test_a_redirect_to_an_internal_address_is_not_followed(admin, run, content_server, dns):
    port = content_server.url.rsplit(":", 1)[1]
    dns["public.test"] = ["127.0.0.1"]  # the operator opened this name, not the loopback address
    content_server.pages["/start"] = Page(status=302, body="")
    content_server.pages["/internal-admin"] = Page(body=INTERNAL)
    content_server.redirects["/start"] = f"http://127.0.0.1:{port}/internal-admin"
    register(admin, "probe", "faq", uri=f"http://public.test:{port}/start")

    assert run("refresh").counts["failed"] == 1
    assert [r["path"] for r in content_server.requests] == ["/start"]
    assert content_server.requests[0]["host"] == f"public.test:{port}"  # pinned address, the host's name


@pytest.mark.parametrize("settings", [("127.0.0.1",), ("127.0.0.0/8",), ("::1", "127.0.0.1/32")], indirect=True)
def test_the_operator_opens_internal_hosts_with_fetch_allow(admin, run, keys, content_server):
    content_server.pages["/prices.txt"] = Page(body="Price list. The travel kettle costs 39 euros.")
    register(admin, "prices", "faq", uri=content_server.url + "/prices.txt")
    assert run("refresh").counts["published"] == 1


@pytest.mark.parametrize("settings", [("127.0.0.1",)], indirect=True)
def test_credentials_in_a_uri_are_used_but_never_shown_nor_logged(admin, run, keys, content_server, caplog):
    content_server.pages["/prices.txt"] = Page(body="Price list. The travel kettle costs 39 euros.")
    uri = content_server.url.replace("http://", "http://svcuser:s3cr3t-pw@") + "/prices.txt"
    caplog.set_level(logging.DEBUG)
    created = admin.post("/v1/sources", json={"id": "prices", "title": "Prices", "owner": "support",
                                              "source_class": "faq", "uri": uri})
    assert created.status_code == 201, created.text
    assert run("refresh").counts["published"] == 1
    assert content_server.requests[0]["authorization"] == "Basic c3ZjdXNlcjpzM2NyM3QtcHc="

    answer = admin.as_key(keys.reader).post("/v1/retrieve", json={"query": "kettle", "task_class": "general_question"})
    shown = [
        created.text,
        admin.get("/v1/sources/prices").text,
        admin.get("/v1/sources").text,
        admin.get("/v1/freshness").text,
        answer.text,
        admin.as_key(keys.auditor).get(f"/v1/audit/retrievals/{answer.json()['request_id']}").text,
        caplog.text,
    ]
    for text in shown:
        assert "s3cr3t-pw" not in text and "svcuser" not in text
    assert admin.get("/v1/sources/prices").json()["uri"].startswith("http://***@127.0.0.1:")


@pytest.mark.parametrize(("host", "internal"), [
    ("127.0.0.1", True), ("2130706433", True), ("0x7f000001", True), ("017700000001", True), ("127.1", True),
    ("[::1]", True), ("::ffff:10.0.0.1", True), ("2002:7f00:1::", True), ("64:ff9b::a00:1", True),
    ("0.0.0.0", True), ("255.255.255.255", True), ("240.0.0.1", True), ("ff02::1", True),
    ("93.184.216.34", False), ("2606:4700::1", False),
])
def test_every_notation_of_an_address_is_judged_by_the_address(host, internal):
    address = ip_literal(host)
    assert address is not None
    assert is_internal(address) is internal


def test_names_are_not_mistaken_for_addresses_and_allow_entries_parse():
    assert ip_literal("docs.example.com") is None and ip_literal("intranet") is None
    rules = AddressRules.parse(["Wiki.Internal.", "10.0.0.0/8", "::1", " "])
    assert rules.hosts == {"wiki.internal"}
    assert rules.allows("wiki.internal", ipaddress.ip_address("192.168.1.1"))
    assert rules.allows("x", ipaddress.ip_address("10.9.9.9"))
    assert not rules.allows("x", ipaddress.ip_address("192.168.1.1"))
    assert rules.allows("x", ipaddress.ip_address("::1"))
