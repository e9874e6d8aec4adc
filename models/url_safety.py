"""Which URLs webhooks are sent to: http(s) only, and only to public addresses (no SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from models.errors import InvalidInput


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
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
