"""Where the service may send a request on a user's behalf (webhooks, push endpoints).

A URL a user gives us must not turn the service into their way into our network (SSRF): it must be
`https` and every address its host resolves to must be a global unicast address: no loopback,
private, shared (CGNAT), link-local, multicast, reserved or unspecified one, also not inside an
IPv4-mapped IPv6 address. The check runs when the URL is given and again before every request,
because DNS can change; the request then goes to the address that was checked, not to a second
lookup (DNS rebinding). `WEBHOOK_ALLOW_PRIVATE_URLS` lifts the rule for development and the tests.
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

    def connect_url(self) -> str:
        """The URL with the checked address in place of the host name (the request carries the
        name in its Host header and TLS server name)."""
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        path = self.url.path or "/"
        query = f"?{self.url.query}" if self.url.query else ""
        return f"{self.url.scheme}://{host}:{self.port}{path}{query}"

    @property
    def host_header(self) -> str:
        default = 443 if self.url.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def parse(url: str, *, allow_private: bool) -> tuple[SplitResult, str, int]:
    """The URL's parts, or UrlNotAllowed for one that is no absolute https URL."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlNotAllowed(f"the URL is longer than {MAX_URL_LENGTH} characters")
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
    return parts, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_SECONDS
        )
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
