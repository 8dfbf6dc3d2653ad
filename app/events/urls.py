"""Where the service may send a request on a user's behalf (webhooks, push endpoints).

A URL a user gives us must not turn the service into their way into our network (SSRF): it must be
`https` and every address its host resolves to must be a global unicast address: no loopback,
private, shared (CGNAT), link-local, multicast, reserved or unspecified one, also not inside an
IPv6 address that leads to an IPv4 one (IPv4-mapped, NAT64, Teredo; 6to4 is refused). A URL with a
user name or password is refused too. The check runs when the URL is given and again before every
request, because DNS can change; the request then goes to the address that was checked, not to a
second lookup (DNS rebinding: `app.events.delivery.PinnedBackend`). `WEBHOOK_ALLOW_PRIVATE_URLS`
lifts the rule (and allows `http`) for development and the tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from app.errors import ProblemError

RESOLVE_TIMEOUT_SECONDS = 5.0
MAX_URL_LENGTH = 2000

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlNotAllowed(ProblemError):
    status = 422
    code = "webhook_url_not_allowed"


@dataclass(frozen=True)
class Target:
    """A checked URL and the address to connect to."""

    url: SplitResult
    host: str
    port: int
    address: IPAddress

    @property
    def default_port(self) -> int:
        return _default_port(self.url.scheme)


# Not public whatever Python's `is_global` says (it has changed between Python releases): the
# shared address space (CGNAT), "this network", the IPv4-compatible IPv6 addresses (deprecated,
# ::/96), the local-use NAT64 prefix and 6to4 (deprecated, RFC 7526; it leads to any IPv4 address).
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(n) for n in ("100.64.0.0/10", "0.0.0.0/8", "::/96", "64:ff9b:1::/48", "2002::/16")
)
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64, RFC 6052): such an address
# reaches the IPv4 one, which must be public too.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to: IPv4-mapped, 6to4, Teredo (the client) or NAT64."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """A global unicast address, and so is any IPv4 address inside it."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        inner = embedded_ipv4(address)
        if inner is not None and not is_public(inner):
            return False
    if any(address in network for network in _NOT_PUBLIC if network.version == address.version):
        return False
    return address.is_global and not address.is_multicast


def parse(url: str, *, allow_private: bool) -> tuple[SplitResult, str, int]:
    """The URL's parts, or UrlNotAllowed for one that is no absolute https URL."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlNotAllowed(f"the URL is longer than {MAX_URL_LENGTH} characters")
    # urlsplit would drop tabs and line breaks silently, and HTTP clients read a backslash as a
    # slash: what is checked must be what is sent.
    if any(c <= " " or c == "\x7f" or c == "\\" for c in url):
        raise UrlNotAllowed("the URL must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlNotAllowed("not a valid URL") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise UrlNotAllowed("the URL must use https")
    if not parts.hostname:
        raise UrlNotAllowed("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UrlNotAllowed("the URL must not carry a user name or password")
    if parts.fragment:
        raise UrlNotAllowed("the URL must not have a fragment")
    if port == 0:
        raise UrlNotAllowed("the URL's port must not be 0")
    return parts, parts.hostname, port if port is not None else _default_port(parts.scheme)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        # Not `asyncio.wait_for`, which on Python 3.11 can lose a cancel of the send.
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        return []
    seen: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in seen:
            seen.append(address)
    return seen


async def check(url: str, *, allow_private: bool) -> Target:
    """The URL checked as the module says, with the address to use; else UrlNotAllowed."""
    parts, host, port = parse(url, allow_private=allow_private)
    addresses = await resolve(host, port)
    if not addresses:
        raise UrlNotAllowed(f"the host {host!r} does not resolve")
    if not allow_private:
        refused = [a for a in addresses if not is_public(a)]
        if refused:
            raise UrlNotAllowed(
                "the URL resolves to an address that is not public (loopback, private, link-local, "
                "multicast or reserved)"
            )
    return Target(parts, host, port, addresses[0])
