"""Fetching one web page as a snapshot document: conditional GET, with hard limits on time, size and redirects.

A fetched page becomes one document:

- ``id``: the URL that was asked for, without its scheme, credentials and fragment
  (``https://Docs.Example.com/refunds/policy.html?lang=en#top`` gives
  ``docs.example.com/refunds/policy.html?lang=en``). It is taken from the requested URL, not the
  final one, so that a page moved behind a redirect, or a site moved from http to https, stays the
  same document from one refresh to the next.
- ``title``: the HTML ``<title>``, else the first Markdown ``# heading``, else the last segment of
  the URL's path (or its host).
- ``uri``: the URL the content finally came from, after redirects, without credentials.
- ``text``: the visible text of an HTML page, or a plain text or Markdown body as it is.
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass
from pathlib import PurePosixPath

import httpx

from freshness import __version__
from freshness.refresh.addresses import AddressRefused, AddressRules, PinnedTransport
from freshness.refresh.files import text_and_title

USER_AGENT = f"freshness/{__version__}"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/x-markdown"})
ACCEPT = "text/html, application/xhtml+xml, text/markdown, text/plain;q=0.9"
# The limits a publish request puts on a document's id and title.
MAX_ID_LENGTH = 512
MAX_TITLE_LENGTH = 1000

_TIMEOUT_KINDS = {
    httpx.ConnectTimeout: "connecting",
    httpx.ReadTimeout: "waiting for data",
    httpx.WriteTimeout: "sending the request",
    httpx.PoolTimeout: "waiting for a connection",
}


@dataclass(frozen=True)
class Fetched:
    """What one GET brought back; ``documents`` is None when the server answered 304 Not Modified."""

    documents: list[dict] | None
    etag: str | None
    last_modified: str | None


class FetchError(Exception):
    """A fetch that failed; str(exc) is a one-line message a person can act on (URL, status or cause)."""


def fetch_url(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = 10.0,
    max_bytes: int = 10 * 2**20,
    max_redirects: int = 5,
    transport: httpx.BaseTransport | None = None,
    addresses: AddressRules | None = None,
) -> Fetched:
    """GET an http(s) URL and turn an HTML, plain text or Markdown answer into one document.

    ``etag`` and ``last_modified`` (from the previous Fetched) make the request conditional.
    ``timeout`` bounds connecting and each wait for data; a body of more than ``max_bytes``
    (after content decoding) is refused as soon as it is seen. With ``addresses``, every connection
    (each redirect hop) goes only where those rules allow. Credentials in the URL are sent as basic
    auth, never as part of a URL that httpx would log. Raises FetchError for anything that yields no
    document; ValueError for limits that make no sense.
    """
    if timeout <= 0 or max_bytes < 1 or max_redirects < 0:
        raise ValueError("timeout and max_bytes must be positive and max_redirects not negative")
    start = _parse_url(url)
    auth = httpx.BasicAuth(start.username, start.password) if start.userinfo else None
    start = _without_credentials(start)
    if addresses is not None:
        transport = PinnedTransport(addresses, transport)
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    visited: list[httpx.URL] = []

    def on_request(request: httpx.Request) -> None:
        # Only redirects can bring another scheme here; the first URL was checked above.
        if request.url.scheme not in ("http", "https"):
            raise FetchError(
                f"{_show(visited[-1])} redirects to {_show(request.url)}: only http and https URLs are fetched"
            )
        visited.append(request.url)

    def on_response(response: httpx.Response) -> None:
        # httpx reads a redirect's body whole before following it, so refuse a huge one before that.
        if response.has_redirect_location:
            _refuse_declared_size(response, max_bytes)

    client = httpx.Client(
        follow_redirects=True,
        max_redirects=max_redirects,
        auth=auth,
        trust_env=False,
        timeout=httpx.Timeout(timeout),
        transport=transport,
        event_hooks={"request": [on_request], "response": [on_response]},
    )
    try:
        with client, client.stream("GET", start, headers=headers) as response:
            return _read(response, start, etag, last_modified, max_bytes)
    except AddressRefused as exc:
        where = _show(visited[-1]) if visited else _show(start)
        raise FetchError(f"GET {where} refused: {exc}") from exc
    except httpx.TooManyRedirects as exc:
        raise FetchError(_redirect_message(visited, max_redirects)) from exc
    except httpx.TimeoutException as exc:
        kind = _TIMEOUT_KINDS.get(type(exc), "waiting")
        raise FetchError(f"GET {_show(_failed_url(exc, start))}: timed out after {timeout:g} s {kind}") from exc
    except httpx.HTTPError as exc:
        cause = str(exc).replace("\n", " ").strip() or type(exc).__name__
        raise FetchError(f"GET {_show(_failed_url(exc, start))} failed: {cause}") from exc


def document_id(url: httpx.URL) -> str:
    """The id of the document fetched from ``url``: host[:port]/path[?query], without scheme or fragment."""
    doc_id = url.netloc.decode("ascii") + url.raw_path.decode("ascii")
    if len(doc_id) > MAX_ID_LENGTH:
        # Keep the id readable and still unique when the URL is longer than an id may be.
        digest = hashlib.sha256(doc_id.encode("ascii")).hexdigest()[:16]
        doc_id = f"{doc_id[: MAX_ID_LENGTH - 17]}~{digest}"
    return doc_id


class NotAnHttpUrl(ValueError):
    """What is wrong with a URL, worded to follow what names it: `uri names no host after the scheme`."""

    def __init__(self, problem: str, parsed: httpx.URL | None = None) -> None:
        super().__init__(problem)
        self.parsed = parsed


def http_url(url: str) -> httpx.URL:
    """The URL of an http(s) source: it parses, is http or https, and names a host after the scheme.

    Checked where a uri comes in and again before every fetch."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise NotAnHttpUrl(f"is not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise NotAnHttpUrl("is refused: only http and https URLs are fetched", parsed)
    if not parsed.host:
        raise NotAnHttpUrl("names no host after the scheme", parsed)
    return parsed


def _parse_url(url: str) -> httpx.URL:
    try:
        return http_url(url)
    except NotAnHttpUrl as exc:
        named = repr(url) if exc.parsed is None else _show(exc.parsed)
        raise FetchError(f"{named} {exc}") from exc


def _read(
    response: httpx.Response, start: httpx.URL, etag: str | None, last_modified: str | None, max_bytes: int
) -> Fetched:
    where = f"GET {_show(response.url)}"
    status = response.status_code
    if status == 304:
        if not (etag or last_modified):
            raise FetchError(f"{where}: 304 Not Modified to a request that was not conditional")
        return Fetched(
            documents=None,
            etag=response.headers.get("ETag") or etag,
            last_modified=response.headers.get("Last-Modified") or last_modified,
        )
    if not 200 <= status < 300:
        raise FetchError(f"{where}: {status} {response.reason_phrase}".rstrip())

    content_type = response.headers.get("Content-Type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in HTML_TYPES | TEXT_TYPES:
        refused = f"content type {content_type!r}" if content_type else "no Content-Type"
        raise FetchError(f"{where}: {refused} refused; only HTML, plain text and Markdown are read")
    _refuse_declared_size(response, max_bytes)
    body = _read_body(response, max_bytes, where)
    raw = _decode(body, response.charset_encoding, where)

    text, title = text_and_title(raw, html=media_type in HTML_TYPES)
    if not text.strip():
        raise FetchError(f"{where}: the {media_type} body holds no text")
    document = {
        "id": document_id(start),
        "title": (title or _title_from_url(start))[:MAX_TITLE_LENGTH],
        "uri": str(_without_credentials(response.url)),
        "text": text,
    }
    return Fetched(
        documents=[document],
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
    )


def _refuse_declared_size(response: httpx.Response, max_bytes: int) -> None:
    try:
        declared = int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return  # absent or malformed: the streamed count decides
    if declared > max_bytes:
        raise FetchError(
            f"GET {_show(response.url)}: Content-Length {declared} is over the limit of {max_bytes} bytes"
        )


def _read_body(response: httpx.Response, max_bytes: int, where: str) -> bytes:
    """The body, counted as it arrives, since Content-Length may be missing or wrong."""
    chunks: list[bytes] = []
    received = 0
    for chunk in response.iter_bytes():
        received += len(chunk)
        if received > max_bytes:
            raise FetchError(f"{where}: the body is over the limit of {max_bytes} bytes; stopped reading")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(body: bytes, charset: str | None, where: str) -> str:
    name = charset or "utf-8"
    try:
        encoding = codecs.lookup(name).name
    except LookupError as exc:
        raise FetchError(f"{where}: unknown charset {name!r} in the Content-Type") from exc
    try:
        # utf-8-sig drops a byte order mark that would otherwise start the text.
        return body.decode("utf-8-sig" if encoding == "utf-8" else encoding)
    except UnicodeDecodeError as exc:
        raise FetchError(f"{where}: the body is not valid {name} text (byte {exc.start})") from exc


def _title_from_url(url: httpx.URL) -> str:
    segment = next((part for part in reversed(url.path.split("/")) if part), "")
    return PurePosixPath(segment).stem.replace("-", " ").replace("_", " ").strip() or url.host


def _redirect_message(visited: list[httpx.URL], max_redirects: int) -> str:
    first_seen: dict[str, int] = {}
    for index, url in enumerate(visited):
        if str(url) in first_seen:
            chain = " -> ".join(_show(u) for u in visited[first_seen[str(url)] : index + 1])
            return f"redirect loop: {chain}"
        first_seen[str(url)] = index
    urls = [_show(u) for u in visited]
    if len(urls) > 8:
        urls = [urls[0], "...", urls[-1]]
    return f"more than {max_redirects} redirects: {' -> '.join(urls)}"


def _failed_url(exc: httpx.HTTPError, fallback: httpx.URL) -> httpx.URL:
    try:
        return exc.request.url
    except RuntimeError:  # raised by httpx when the error carries no request
        return fallback


def _without_credentials(url: httpx.URL) -> httpx.URL:
    return url.copy_with(username=None, password=None) if url.userinfo else url


def _show(url: httpx.URL) -> str:
    """A URL fit for a message or a log line: no credentials."""
    return str(_without_credentials(url))
