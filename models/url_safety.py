"""Which URLs webhooks are sent to: http(s) only, and only to public addresses (no SSRF).

`is_public_address` is the one judgement, made at registration (every address
the host resolves to) and again by the HTTP client at connect time (the
addresses it is about to connect to), so a name that resolves elsewhere later
gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from models.errors import InvalidInput

IPv4, IPv6 = ipaddress.IPv4Address, ipaddress.IPv6Address
GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
# IPv6 forms that carry an IPv4 address in their last 32 bits: mapped (::ffff:a.b.c.d),
# translated (::ffff:0:a.b.c.d), compatible (::a.b.c.d, also :: and ::1) and the
# well-known NAT64 prefix. A packet to one of them may reach that IPv4 address.
LAST_32_BITS = tuple(
    ipaddress.ip_network(net)
    for net in ("::ffff:0:0/96", "::ffff:0:0:0/96", "::/96", "64:ff9b::/96")
)
# NAT64 for a network's own use (RFC 8215): where its IPv4 sits depends on the
# operator's prefix length, and it is never global, so it is refused whole.
LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


def is_public_address(address: str) -> bool:
    """Whether connecting to `address` reaches the public internet, and only that.

    An IPv6 address that embeds an IPv4 one (the forms above, 6to4, Teredo's
    server and client) is judged by the IPv4 addresses it leads to; any other
    IPv6 address must be global unicast (2000::/3), so site-local, unique-local,
    link-local, multicast and reserved ranges are refused.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, IPv4):
        return _public_ipv4(ip)
    embedded = embedded_ipv4(ip)
    if embedded is not None:
        return bool(embedded) and all(_public_ipv4(inner) for inner in embedded)
    if ip in LOCAL_NAT64:
        return False
    return ip in GLOBAL_UNICAST and ip.is_global


def embedded_ipv4(ip: IPv6) -> list[IPv4] | None:
    """The IPv4 addresses an IPv6 address leads to, or None if it is not such a form."""
    if any(ip in net for net in LAST_32_BITS):
        return [IPv4(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # the Teredo server and the client behind its NAT
    return None


def _public_ipv4(ip: IPv4) -> bool:
    return ip.is_global and not ip.is_multicast


def non_public_reason(url: str) -> str | None:
    """Why `url` must not be called from here (its host is not public), or None."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return f"Host {host!r} does not resolve"
    for *_, sockaddr in infos:
        if not is_public_address(sockaddr[0]):
            return f"Host {host!r} resolves to a non-public address ({sockaddr[0]})"
    return None


def check_url(url: str, *, allow_private: bool) -> None:
    """Only http(s) URLs; unless allowed, only hosts whose every address is public."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("Invalid webhook URL", details={"url": "Must be an http(s) URL"})
    if allow_private:
        return
    reason = non_public_reason(url)
    if reason:
        raise InvalidInput("Webhook URL is not allowed", details={"url": reason}, key="ssrf")
