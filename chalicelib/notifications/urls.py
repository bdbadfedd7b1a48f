"""Webhook targets that cannot be turned against our own network (SSRF).

A webhook URL is someone else's input that our functions will connect to, from inside
AWS. So a URL is checked twice: when it is registered (a clear 400) and at every
delivery, because DNS can change between the two (rebinding). At delivery the name is
resolved once, every address is checked, and the connection goes to the checked address
(TLS still verifies the certificate against the name), so a second lookup cannot swap in
an internal address.

Allowed: `https` to public (globally routable) addresses only. The local stage also
accepts loopback targets, over `http` or `https`, so a receiver on 127.0.0.1 works with
the local stack. Refused everywhere else: private, loopback, link-local (this includes
the instance metadata address 169.254.169.254), shared (100.64/10), multicast, reserved
and unspecified addresses, also when wrapped in IPv6 (mapped, 6to4, NAT64), user
credentials in the URL, and ports outside 1-65535.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeURL(ValueError):
    """A webhook URL we will not connect to; the message says why (shown to the user)."""


@dataclass(frozen=True)
class Target:
    """A syntactically acceptable webhook URL, split into what a connection needs."""

    url: str
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (A and AAAA), as strings."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), if any."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return ip.ipv4_mapped
        if ip.sixtofour:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_allowed(address: str, *, allow_loopback: bool) -> bool:
    """May a webhook connect to `address`? Public addresses only (plus loopback locally)."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    inner = _embedded_v4(ip)
    if inner is not None:
        ip = inner
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_link_local)


def parse(url: str, *, allow_loopback: bool) -> Target:
    """Check the form of a URL (no lookup); raises UnsafeURL saying what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise UnsafeURL("webhook_url must be a non-empty URL")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"webhook_url is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UnsafeURL("webhook_url must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"webhook_url is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".").lower()
    if scheme not in ("https", "http"):
        raise UnsafeURL("webhook_url must use https")
    if not host:
        raise UnsafeURL("webhook_url has no host name")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("webhook_url must not contain credentials (user:password@)")
    if parts.fragment:
        raise UnsafeURL("webhook_url must not contain a fragment (#...)")
    if scheme == "http" and not (allow_loopback and _is_loopback_name(host)):
        raise UnsafeURL(
            "webhook_url must use https (plain http is accepted only for loopback receivers in the local stage)"
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(url=url, scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80), path=path)


def _is_loopback_name(host: str) -> bool:
    """`localhost` or a literal loopback address (a name that resolves there is checked later)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve(target: Target, *, allow_loopback: bool, resolver: Resolver = system_resolver) -> list[str]:
    """The addresses to connect to; refuses the target if ANY address is not allowed
    (a name with one public and one private address is a rebinding trick, not a webhook)."""
    try:
        addresses = [str(ipaddress.ip_address(target.host))]  # a literal address needs no lookup
    except ValueError:
        addresses = []
    try:
        addresses = addresses or resolver(target.host, target.port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeURL(f"webhook host {target.host} does not resolve ({exc})") from None
    if not addresses:
        raise UnsafeURL(f"webhook host {target.host} does not resolve")
    refused = [a for a in addresses if not address_allowed(a, allow_loopback=allow_loopback)]
    if refused:
        raise UnsafeURL(
            f"webhook host {target.host} resolves to a private, loopback, link-local or reserved "
            f"address ({refused[0]}); only public addresses are allowed"
        )
    if target.scheme == "http" and not all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses):
        raise UnsafeURL("webhook_url must use https (plain http only to loopback in the local stage)")
    return addresses


def check(url: str, *, allow_loopback: bool, resolver: Resolver = system_resolver) -> tuple[Target, list[str]]:
    """Parse and resolve: the one check at registration and at every delivery."""
    target = parse(url, allow_loopback=allow_loopback)
    return target, resolve(target, allow_loopback=allow_loopback, resolver=resolver)
