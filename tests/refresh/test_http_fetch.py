"""What the scheduled refresh sees when it fetches a source's web page: documents, conditional GETs
that say "unchanged", and one clear error for every way a page can fail to arrive.

A real HTTP server runs on loopback for each test; nothing leaves the machine."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import pytest

from freshness import __version__
from freshness.refresh.http import Fetched, FetchError, fetch_url
from tests.loopback import serving

SMALL = 1000  # max_bytes for the oversize tests
STALL = 5.0  # how long a stalling handler waits at most; the fixture releases it sooner

HTML = b"""<!doctype html><html><head><title>Refund policy</title>
<script>var tracking = "do not index me";</script><style>p { color: red }</style></head>
<body><h1>Refunds</h1><p>Refunds are accepted within 30 days.</p></body></html>"""
PLAIN = "Shipping takes 3 to 5 working days.\n"
MARKDOWN = "# Warranty terms\n\nTwo years on every device.\n"
ETAG = '"v1"'
LAST_MODIFIED = "Wed, 01 Jan 2025 10:00:00 GMT"


@dataclass
class Site:
    base: str
    stop: threading.Event
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def headers_for(self, path: str) -> list[dict[str, str]]:
        return [headers for seen, headers in self.requests if seen == path]


def reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    content_type: str | None = "text/plain; charset=utf-8",
    headers: dict[str, str] | None = None,
    reason: str | None = None,
) -> None:
    handler.send_response(status, reason)
    if content_type:
        handler.send_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def route_html(h: BaseHTTPRequestHandler, site: Site) -> None:
    reply(h, 200, HTML, "text/html; charset=utf-8")


def route_plain(h: BaseHTTPRequestHandler, site: Site) -> None:
    reply(h, 200, PLAIN.encode(), "text/plain; charset=utf-8", {"ETag": '"plain-1"'})


def route_markdown(h: BaseHTTPRequestHandler, site: Site) -> None:
    reply(h, 200, MARKDOWN.encode(), "text/markdown")


def route_latin1(h: BaseHTTPRequestHandler, site: Site) -> None:
    reply(h, 200, "Café crème, déjà vu.".encode("latin-1"), "text/plain; charset=iso-8859-1")


def route_not_utf8(h: BaseHTTPRequestHandler, site: Site) -> None:
    reply(h, 200, b"caf\xe9 \xff\xfe", "text/plain")


def route_empty(h: BaseHTTPRequestHandler, site: Site) -> None:
    reply(h, 200, b"<html><head><script>only()</script></head><body>  </body></html>", "text/html")


def route_etag(h: BaseHTTPRequestHandler, site: Site) -> None:
    if h.headers.get("If-None-Match") == ETAG:
        reply(h, 304, content_type=None, headers={"ETag": ETAG})
    else:
        reply(h, 200, PLAIN.encode(), headers={"ETag": ETAG})


def route_dated(h: BaseHTTPRequestHandler, site: Site) -> None:
    if h.headers.get("If-Modified-Since") == LAST_MODIFIED:
        reply(h, 304, content_type=None)  # no Last-Modified: the client keeps its own
    else:
        reply(h, 200, PLAIN.encode(), headers={"Last-Modified": LAST_MODIFIED})


def route_missing(h: BaseHTTPRequestHandler, site: Site) -> None:
    reply(h, 404, b"no such page")


def route_broken(h: BaseHTTPRequestHandler, site: Site) -> None:
    reply(h, 500, b"boom", reason="Database Unreachable")


def route_slow(h: BaseHTTPRequestHandler, site: Site) -> None:
    site.stop.wait(STALL)
    reply(h, 200, PLAIN.encode())


def route_declares_too_much(h: BaseHTTPRequestHandler, site: Site) -> None:
    # Declares a large body, sends a little, then stalls: only an up-front check ends this quickly.
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.send_header("Content-Length", str(SMALL * 50))
    h.end_headers()
    h.wfile.write(b"x" * 10)
    h.wfile.flush()
    site.stop.wait(STALL)


def route_undeclared_too_much(h: BaseHTTPRequestHandler, site: Site) -> None:
    # No Content-Length, the body ends when the connection closes; more than the limit is sent,
    # then the server stalls: a client that reads to the end waits for a timeout instead.
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.end_headers()
    h.wfile.write(b"x" * (SMALL * 3))
    h.wfile.flush()
    site.stop.wait(STALL)


def route_chunked_too_much(h: BaseHTTPRequestHandler, site: Site) -> None:
    h.protocol_version = "HTTP/1.1"
    h.send_response(200)
    h.send_header("Content-Type", "text/plain")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    for _ in range(3):
        h.wfile.write(b"%x\r\n%s\r\n" % (SMALL, b"y" * SMALL))
    h.wfile.flush()
    site.stop.wait(STALL)


def route_moved(h: BaseHTTPRequestHandler, site: Site) -> None:
    reply(h, 301, b"moved", headers={"Location": "/new/home"})


def route_new_home(h: BaseHTTPRequestHandler, site: Site) -> None:
    reply(h, 200, b"# Moved page\n\nThe content now lives here.\n", "text/markdown; charset=utf-8")


def route_loop_a(h: BaseHTTPRequestHandler, site: Site) -> None:
    reply(h, 302, headers={"Location": "/loop/b"})


def route_loop_b(h: BaseHTTPRequestHandler, site: Site) -> None:
    reply(h, 302, headers={"Location": "/loop/a"})


def route_to_file(h: BaseHTTPRequestHandler, site: Site) -> None:
    reply(h, 302, headers={"Location": "file:///etc/passwd"})


def route_binary(h: BaseHTTPRequestHandler, site: Site) -> None:
    reply(h, 200, b"\x00\x01\x02\x03", "application/octet-stream")


def route_image(h: BaseHTTPRequestHandler, site: Site) -> None:
    reply(h, 200, b"\x89PNG\r\n\x1a\n", "image/png")


ROUTES: dict[str, Callable[[BaseHTTPRequestHandler, Site], None]] = {
    "/docs/refund-policy.html": route_html,
    "/shipping.txt": route_plain,
    "/warranty.md": route_markdown,
    "/latin1.txt": route_latin1,
    "/not-utf8.txt": route_not_utf8,
    "/empty.html": route_empty,
    "/etag": route_etag,
    "/dated": route_dated,
    "/missing": route_missing,
    "/broken": route_broken,
    "/slow": route_slow,
    "/declares-too-much": route_declares_too_much,
    "/undeclared-too-much": route_undeclared_too_much,
    "/chunked-too-much": route_chunked_too_much,
    "/old/home": route_moved,
    "/new/home": route_new_home,
    "/loop/a": route_loop_a,
    "/loop/b": route_loop_b,
    "/to-file": route_to_file,
    "/download.bin": route_binary,
    "/logo.png": route_image,
}


def route_hop(h: BaseHTTPRequestHandler, site: Site, n: int) -> None:
    """/hop/N redirects to /hop/N+1 until /hop/10, which is a page."""
    if n >= 10:
        reply(h, 200, b"End of the hops.\n")
    else:
        reply(h, 302, headers={"Location": f"/hop/{n + 1}"})


@pytest.fixture
def site() -> Iterator[Site]:
    stop = threading.Event()
    state = Site(base="", stop=stop)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            path = urlsplit(self.path).path
            state.requests.append((path, {k.lower(): v for k, v in self.headers.items()}))
            try:
                if path.startswith("/hop/"):
                    route_hop(self, state, int(path.rsplit("/", 1)[1]))
                elif path in ROUTES:
                    ROUTES[path](self, state)
                else:
                    reply(self, 404, b"unknown test route")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first, as several tests expect

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    with serving(Handler) as base:
        state.base = base
        try:
            yield state
        finally:
            stop.set()  # release handlers still stalling, so the server can stop


def fetch_one(url: str, **kwargs) -> dict:
    fetched = fetch_url(url, **kwargs)
    assert isinstance(fetched, Fetched)
    assert fetched.documents is not None and len(fetched.documents) == 1
    return fetched.documents[0]


# --- pages that become documents ---------------------------------------------------------------


def test_an_html_page_becomes_one_document_with_its_title_and_visible_text(site: Site) -> None:
    doc = fetch_one(site.url("/docs/refund-policy.html"))

    assert doc["title"] == "Refund policy"
    assert "Refunds are accepted within 30 days." in doc["text"]
    assert "tracking" not in doc["text"] and "color" not in doc["text"]
    assert doc["uri"] == site.url("/docs/refund-policy.html")
    assert doc["id"] == site.base.removeprefix("http://") + "/docs/refund-policy.html"
    assert set(doc) == {"id", "title", "uri", "text"}


def test_a_plain_text_page_is_taken_as_it_is_with_a_title_from_the_url(site: Site) -> None:
    fetched = fetch_url(site.url("/shipping.txt"))

    assert fetched.documents == [
        {
            "id": site.base.removeprefix("http://") + "/shipping.txt",
            "title": "shipping",
            "uri": site.url("/shipping.txt"),
            "text": PLAIN,
        }
    ]
    assert fetched.etag == '"plain-1"'
    assert fetched.last_modified is None


def test_a_markdown_page_takes_its_title_from_the_first_heading(site: Site) -> None:
    doc = fetch_one(site.url("/warranty.md"))

    assert doc["title"] == "Warranty terms"
    assert doc["text"] == MARKDOWN


def test_the_id_ignores_scheme_and_fragment_so_it_stays_stable(site: Site) -> None:
    plain = fetch_one(site.url("/shipping.txt"))
    with_fragment = fetch_one(site.url("/shipping.txt#top"))

    assert plain["id"] == with_fragment["id"]
    assert not plain["id"].startswith("http")


def test_the_charset_in_the_content_type_is_used_to_decode(site: Site) -> None:
    doc = fetch_one(site.url("/latin1.txt"))

    assert doc["text"] == "Café crème, déjà vu."


def test_text_that_is_not_valid_in_its_charset_is_refused(site: Site) -> None:
    with pytest.raises(FetchError, match="not valid utf-8"):
        fetch_url(site.url("/not-utf8.txt"))


def test_a_page_with_no_visible_text_is_refused(site: Site) -> None:
    with pytest.raises(FetchError, match="no text") as caught:
        fetch_url(site.url("/empty.html"))
    assert site.url("/empty.html") in str(caught.value)


def test_the_request_names_the_service_in_its_user_agent(site: Site) -> None:
    fetch_url(site.url("/shipping.txt"))

    [headers] = site.headers_for("/shipping.txt")
    assert headers["user-agent"] == f"freshness/{__version__}"


# --- conditional GET ---------------------------------------------------------------------------


def test_an_unchanged_page_answers_304_to_its_etag_and_keeps_the_etag(site: Site) -> None:
    first = fetch_url(site.url("/etag"))
    assert first.documents is not None and first.etag == ETAG

    second = fetch_url(site.url("/etag"), etag=first.etag)

    assert second == Fetched(documents=None, etag=ETAG, last_modified=None)
    first_request, second_request = site.headers_for("/etag")
    assert "if-none-match" not in first_request
    assert second_request["if-none-match"] == ETAG


def test_an_unchanged_page_answers_304_to_if_modified_since_and_keeps_the_date(site: Site) -> None:
    first = fetch_url(site.url("/dated"))
    assert first.documents is not None and first.last_modified == LAST_MODIFIED

    second = fetch_url(site.url("/dated"), last_modified=first.last_modified)

    assert second.documents is None
    assert second.last_modified == LAST_MODIFIED  # the 304 sent none: the request's is kept
    assert site.headers_for("/dated")[1]["if-modified-since"] == LAST_MODIFIED


def test_a_stale_etag_gets_the_new_content(site: Site) -> None:
    fetched = fetch_url(site.url("/etag"), etag='"v0"')

    assert fetched.documents is not None and fetched.documents[0]["text"] == PLAIN
    assert fetched.etag == ETAG


# --- errors a person can act on ----------------------------------------------------------------


def test_a_missing_page_is_an_error_with_its_status(site: Site) -> None:
    with pytest.raises(FetchError) as caught:
        fetch_url(site.url("/missing"))

    message = str(caught.value)
    assert "404 Not Found" in message and site.url("/missing") in message
    assert "\n" not in message


def test_a_server_error_is_an_error_with_its_status_and_reason(site: Site) -> None:
    with pytest.raises(FetchError, match="500 Database Unreachable"):
        fetch_url(site.url("/broken"))


def test_a_server_that_does_not_answer_in_time_is_a_timeout(site: Site) -> None:
    with pytest.raises(FetchError, match="timed out") as caught:
        fetch_url(site.url("/slow"), timeout=0.5)
    assert site.url("/slow") in str(caught.value)


def test_nothing_listening_is_an_error_naming_the_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/gone"

    with pytest.raises(FetchError, match="failed") as caught:
        fetch_url(url, timeout=2)
    assert url in str(caught.value)


@pytest.mark.parametrize(
    ("path", "refused"), [("/download.bin", "application/octet-stream"), ("/logo.png", "image/png")]
)
def test_content_that_is_not_text_is_refused_by_type(site: Site, path: str, refused: str) -> None:
    with pytest.raises(FetchError, match=refused):
        fetch_url(site.url(path))


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/file.txt", "file:///etc/passwd", "example.com/page"])
def test_only_http_and_https_urls_are_fetched(url: str) -> None:
    with pytest.raises(FetchError, match="only http and https"):
        fetch_url(url)


# --- size limits -------------------------------------------------------------------------------


def test_a_declared_content_length_over_the_limit_is_refused_before_reading(site: Site) -> None:
    with pytest.raises(FetchError, match=f"Content-Length {SMALL * 50} is over the limit of {SMALL} bytes"):
        fetch_url(site.url("/declares-too-much"), max_bytes=SMALL, timeout=2)


@pytest.mark.parametrize("path", ["/undeclared-too-much", "/chunked-too-much"])
def test_a_body_without_content_length_is_cut_off_once_over_the_limit(site: Site, path: str) -> None:
    # The server stalls after sending too much: a fetcher that read on would time out instead.
    with pytest.raises(FetchError, match=f"body is over the limit of {SMALL} bytes"):
        fetch_url(site.url(path), max_bytes=SMALL, timeout=2)


def test_a_body_within_the_limit_is_read(site: Site) -> None:
    doc = fetch_one(site.url("/shipping.txt"), max_bytes=len(PLAIN))

    assert doc["text"] == PLAIN


# --- redirects ---------------------------------------------------------------------------------


def test_a_redirect_is_followed_and_the_uri_is_where_the_content_came_from(site: Site) -> None:
    doc = fetch_one(site.url("/old/home"))

    assert doc["uri"] == site.url("/new/home")
    assert doc["id"] == site.base.removeprefix("http://") + "/old/home"  # the URL the source names
    assert doc["title"] == "Moved page"
    assert [path for path, _ in site.requests] == ["/old/home", "/new/home"]


def test_a_redirect_loop_is_an_error_that_says_so(site: Site) -> None:
    with pytest.raises(FetchError, match="redirect loop") as caught:
        fetch_url(site.url("/loop/a"))
    assert site.url("/loop/b") in str(caught.value)


def test_more_redirects_than_allowed_is_an_error(site: Site) -> None:
    with pytest.raises(FetchError, match="more than 3 redirects"):
        fetch_url(site.url("/hop/6"), max_redirects=3)


def test_redirects_up_to_the_limit_are_followed(site: Site) -> None:
    doc = fetch_one(site.url("/hop/7"), max_redirects=3)

    assert doc["uri"] == site.url("/hop/10")


def test_a_redirect_to_another_scheme_is_refused(site: Site) -> None:
    with pytest.raises(FetchError, match="only http and https") as caught:
        fetch_url(site.url("/to-file"))
    assert site.url("/to-file") in str(caught.value)
