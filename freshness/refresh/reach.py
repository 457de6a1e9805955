"""What a source's `uri` may make the service read, checked where a uri comes in and where it is used.

Built from the settings: `file://` inside FRESHNESS_FILE_ROOTS only, `http(s)://` to public
addresses or those FRESHNESS_FETCH_ALLOW names. Registration and PATCH refuse anything else with
a 422 naming the setting; the refresh checks again at every read and every connection.

Credentials in a uri (`https://user:secret@host/...`) are kept, because the refresh needs them,
but never shown back nor logged: every view of a source shows `redact_uri(uri)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from freshness.errors import InvalidInput
from freshness.refresh.addresses import AddressRules, ip_literal, refusal
from freshness.refresh.http import NotAnHttpUrl, http_url
from freshness.refresh.roots import FileRoots
from freshness.settings import Settings

REDACTED = "***"


@dataclass(frozen=True)
class SourceReach:
    files: FileRoots
    addresses: AddressRules

    @classmethod
    def of(cls, settings: Settings) -> SourceReach:
        return cls(FileRoots.of(settings.file_roots, settings.data_dir), AddressRules.parse(settings.fetch_allow))

    def check(self, uri: str | None) -> None:
        """Refuse a uri the service may not read on a publisher's behalf (InvalidInput, field `uri`)."""
        if uri is None:
            return
        if "\x00" in uri or any(c.isspace() for c in uri):
            raise InvalidInput("uri must not hold spaces or control characters", field="uri")
        if uri.startswith("file://"):
            self.files.target(uri)
            return
        if not uri.startswith(("http://", "https://")):
            raise InvalidInput("uri must start with file://, http:// or https://", field="uri")
        # Judge an address literal before httpx parses it: it refuses some legacy notations
        # (`0177.0.0.1`) that resolvers still take, and the answer must name the setting.
        try:
            host = urlsplit(uri).hostname or ""
        except ValueError as exc:
            raise InvalidInput(f"uri is not a valid URL: {exc}", field="uri") from exc
        literal = ip_literal(host)
        if literal is not None and not self.addresses.allows(host, literal):
            raise InvalidInput(refusal(host), field="uri")
        try:
            url = http_url(uri)
        except NotAnHttpUrl as exc:
            raise InvalidInput(f"uri {exc}", field="uri") from exc
        self.addresses.check_registration(url)


CLOSED = SourceReach(FileRoots(()), AddressRules())
"""No file:// and no internal address: what a caller gets that does not pass the settings' rules."""


def redact_uri(uri: str | None) -> str | None:
    """The uri with any user name and password replaced by `***`."""
    if not uri or "@" not in uri or uri.startswith("file:"):
        return uri
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    authority_end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority = rest[:authority_end]
    if "@" not in authority:
        return uri
    host = authority.rsplit("@", 1)[1]
    return f"{scheme}://{REDACTED}@{host}{rest[authority_end:]}"
