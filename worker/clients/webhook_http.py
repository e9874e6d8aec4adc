"""Webhook POSTs: keep-alive pools, a timeout, and, if asked, no connecting to non-public addresses.

Plain values in and out: a URL, headers, a body and a timeout go in; the
status, the start of the body, Retry-After and the time taken, or a network
error, come out.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import urllib3
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError, NameResolutionError, NewConnectionError

USER_AGENT = "Zellyy-Webhooks/1.0"
HEAD_LIMIT = 1024  # bytes of the answer's body returned
# Read past the head, up to this much, so the connection can be reused.
DRAIN_LIMIT = 64 * 1024
# Connections kept per host: more than the attempts one endpoint may have in flight (8 unless
# configured otherwise), so that each finds one to reuse.
CONNECTIONS_PER_HOST = 32


@dataclass(frozen=True)
class Reply:
    """What one POST came to: the receiver's answer, or `error` when there was none."""

    duration_ms: int
    status_code: int | None = None
    head: bytes = b""
    retry_after: float | None = None
    error: str | None = None


class BlockedAddress(NewConnectionError):
    """The host resolves to a non-public address: refused before connecting to anything."""

    def __init__(self, conn, reason: str):
        super().__init__(conn, reason)
        self.reason = reason


class _Guarded:
    """Resolves the host once, judges every address, then connects to exactly those.

    Judging the addresses that are connected to (not a lookup made earlier)
    leaves DNS rebinding nothing to win, and a refused host sees no packet.
    """

    is_public: Callable[[str], bool]

    def _new_conn(self):
        name = self._dns_host
        try:
            infos = socket.getaddrinfo(name, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as ex:
            raise NameResolutionError(self.host, self, ex) from ex
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        for address in addresses:
            if not self.is_public(address):
                raise BlockedAddress(
                    self, f"Host {self.host!r} resolves to a non-public address ({address})"
                )
        for n, address in enumerate(addresses):
            self._dns_host = address  # an address literal: urllib3 looks nothing up again
            try:
                return super()._new_conn()
            except NewConnectionError:
                if n == len(addresses) - 1:
                    raise
            finally:
                self._dns_host = name
        raise NewConnectionError(self, f"Host {self.host!r} has no address")


def _guarded_pools(is_public: Callable[[str], bool]) -> dict[str, type]:
    """Pool classes whose connections only reach addresses `is_public` accepts."""
    pools = {}
    for scheme, pool in (("http", HTTPConnectionPool), ("https", HTTPSConnectionPool)):
        connection = type(
            "Guarded" + pool.ConnectionCls.__name__,
            (_Guarded, pool.ConnectionCls),
            {"is_public": staticmethod(is_public)},
        )
        pools[scheme] = type("Guarded" + pool.__name__, (pool,), {"ConnectionCls": connection})
    return pools


_managers: dict[tuple[int, Callable | None], urllib3.PoolManager] = {}


def _manager(is_public: Callable[[str], bool] | None) -> urllib3.PoolManager:
    """One thread-safe pool manager per process (never shared across a fork)."""
    key = (os.getpid(), is_public)
    manager = _managers.get(key)
    if manager is None:
        manager = urllib3.PoolManager(
            num_pools=200,
            maxsize=CONNECTIONS_PER_HOST,
            headers={"User-Agent": USER_AGENT},
            retries=False,  # retrying is the delivery schedule's job
        )
        if is_public is not None:
            manager.pool_classes_by_scheme = _guarded_pools(is_public)
        _managers[key] = manager
    return manager


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    connect_timeout: float | None = None,
    is_public: Callable[[str], bool] | None = None,
) -> Reply:
    """One attempt; never raises for what the network or the receiver does.

    `timeout` bounds the attempt: connecting (at most `connect_timeout`), each
    wait for the answer, and reading the start of its body; with `is_public`,
    only addresses it accepts are connected to.
    """
    start = time.perf_counter()
    try:
        response = _manager(is_public).request(
            "POST",
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(connect=connect_timeout, total=timeout),
            redirect=False,  # a 3xx is a failure, and never followed
            preload_content=False,
        )
    except (HTTPError, OSError) as ex:
        return Reply(_elapsed_ms(start), error=_describe(ex, timeout, connect_timeout))
    head = _read_head(response, deadline=start + timeout)
    return Reply(
        _elapsed_ms(start),
        status_code=response.status,
        head=head,
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
    )


def _read_head(response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
    """The first kilobyte of the body; the connection goes back to the pool if it was short.

    A body still arriving at `deadline` is cut there (its connection closed).
    """
    try:
        head = response.read(HEAD_LIMIT)
        read = len(head)
        while read <= DRAIN_LIMIT and time.perf_counter() < deadline:
            chunk = response.read(8192)
            if not chunk:
                response.release_conn()
                break
            read += len(chunk)
        else:
            response.close()
    except (HTTPError, OSError):
        response.close()  # the status line arrived; a body cut short does not change it
        head = b""
    return head


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _elapsed_ms(start: float) -> int:
    return round((time.perf_counter() - start) * 1000)


def _describe(ex: Exception, timeout: float, connect_timeout: float | None) -> str:
    if isinstance(ex, BlockedAddress):
        return f"blocked: {ex.reason}"
    if isinstance(ex, NewConnectionError):  # urllib3 makes it a kind of timeout; it is not
        return f"connection error: {ex.__cause__ or ex}"
    if isinstance(ex, urllib3.exceptions.ConnectTimeoutError):
        return f"timeout: no connection within {connect_timeout or timeout:g} s"
    if isinstance(ex, urllib3.exceptions.TimeoutError | TimeoutError):
        return f"timeout: no answer within {timeout:g} s"
    return f"connection error: {type(ex).__name__}: {ex}"
