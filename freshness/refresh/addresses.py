"""Which hosts an http(s) source may make the service connect to.

A source uri is the service making requests on a publisher's behalf, from inside the operator's
network: left open, a publisher could read a cloud metadata endpoint or an internal admin page and
have it served back through retrieval. So loopback, private, link-local, multicast, reserved and
unspecified addresses are refused unless FRESHNESS_FETCH_ALLOW names the host, the address or a
range holding it. The rule is applied to the resolved address of every connection, redirects
included, and the connection goes to the address that was checked: a DNS answer that changes
between the check and the connect does not get through.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import cast

import httpx

from freshness.errors import InvalidInput

SETTING = "FRESHNESS_FETCH_ALLOW"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def refusal(what: str) -> str:
    """The message for an address a source may not reach; `what` is the host as given, never its resolution."""
    return f"{what} is loopback, private, link-local or otherwise internal; an operator may open it with {SETTING}"


class AddressRefused(Exception):
    """A connection the rules forbid; str(exc) names the host and the setting, never a resolved address."""


class Unresolved(AddressRefused):
    """The name resolves to no address now; it may later, so registration lets it pass."""


def ip_literal(host: str) -> IPAddress | None:
    """The address `host` spells, in any notation a resolver takes: `[::1]`, `127.1`, `2130706433`, `0x7f.1`."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    if not text or not all(c.isalnum() or c == "." for c in text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def is_internal(address: IPAddress) -> bool:
    """Loopback, private, link-local, multicast, reserved, unspecified, or a v6 form wrapping one of those."""
    if isinstance(address, ipaddress.IPv6Address):
        wrapped = address.ipv4_mapped or address.sixtofour
        if wrapped is None and address in _NAT64:
            wrapped = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if wrapped is None and address.teredo:
            wrapped = address.teredo[1]
        if wrapped is not None and is_internal(wrapped):
            return True
    return address.is_multicast or not address.is_global


@dataclass(frozen=True)
class AddressRules:
    """The operator's exceptions: host names, and addresses or ranges, that may be reached although internal."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: tuple[str, ...] | list[str]) -> AddressRules:
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in entries:
            item = entry.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        if host.lower().rstrip(".") in self.hosts:
            return True
        if not is_internal(address):
            return True
        return any(address in network for network in self.networks if network.version == address.version)

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to for `host`: every one the name resolves to must be allowed."""
        literal = ip_literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as exc:
                raise Unresolved(f"{host}: the name does not resolve") from exc
            # an IPv4 or IPv6 sockaddr starts with the address text (the int case is for other families)
            addresses = list(dict.fromkeys(ipaddress.ip_address(cast(str, info[4][0]).split("%", 1)[0])
                                           for info in infos))
        if not addresses:
            raise Unresolved(f"{host}: the name does not resolve")
        for address in addresses:
            if not self.allows(host, address):
                raise AddressRefused(refusal(host if literal is not None else f"{host} resolves to an address that"))
        return addresses

    def check_registration(self, url: httpx.URL) -> None:
        """At registration and PATCH: refuse a uri whose host is, or resolves to, an internal address.

        A name that does not resolve now is accepted: every connection is checked again when it is made."""
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            self.resolve(url.host, port)
        except Unresolved:
            return
        except AddressRefused as exc:
            raise InvalidInput(str(exc), field="uri") from exc


class PinnedTransport(httpx.BaseTransport):
    """Checks the host of every request (each redirect hop is one) and connects to the checked address.

    The request goes to the address itself; the Host header and the TLS server name stay the host's,
    so virtual hosting and certificate checks work as before."""

    def __init__(self, rules: AddressRules, inner: httpx.BaseTransport | None = None) -> None:
        self.rules = rules
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        address = self.rules.resolve(url.host, port)[0]
        extensions = dict(request.extensions)
        if url.scheme == "https":
            extensions.setdefault("sni_hostname", url.host)
        pinned = httpx.Request(
            request.method, url.copy_with(host=str(address)), headers=request.headers,
            stream=request.stream, extensions=extensions,
        )
        return self.inner.handle_request(pinned)

    def close(self) -> None:
        self.inner.close()
