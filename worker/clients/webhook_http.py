"""Webhook POSTs: keep-alive pools, a timeout, and, if asked, no connecting to non-public addresses.

Plain values in and out: a URL, headers, a body and a timeout go in; the
status, the start of the body, Retry-After and the time taken, or a network
error, come out.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import urllib3
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError, NewConnectionError

USER_AGENT = "Zellyy-Webhooks/1.0"
HEAD_LIMIT = 1024  # bytes of the answer's body returned
# Read past the head, up to this much, so the connection can be reused.
DRAIN_LIMIT = 64 * 1024
# Connections kept per host: a batch of deliveries (8) is sent to one host in parallel.
CONNECTIONS_PER_HOST = 8


@dataclass(frozen=True)
class Reply:
    """What one POST came to: the receiver's answer, or `error` when there was none."""

    duration_ms: int
    status_code: int | None = None
    head: bytes = b""
    retry_after: float | None = None
    error: str | None = None


class BlockedAddress(NewConnectionError):
    """The host's address is not public: refused at connect time, after DNS (no rebinding)."""

    def __init__(self, conn, reason: str):
        super().__init__(conn, reason)
        self.reason = reason


class _Guarded:
    is_public: Callable[[str], bool]

    def _new_conn(self):
        sock = super()._new_conn()
        address = sock.getpeername()[0]
        if not self.is_public(address):
            sock.close()
            raise BlockedAddress(self, f"{self.host} connects to a non-public address ({address})")
        return sock


def _guarded_pools(is_public: Callable[[str], bool]) -> dict[str, type]:
    """Pool classes whose connections check the address they reached before sending anything."""
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
    is_public: Callable[[str], bool] | None = None,
) -> Reply:
    """One attempt; never raises for what the network or the receiver does.

    `timeout` bounds connecting and answering together; with `is_public`, only
    addresses it accepts are connected to.
    """
    start = time.perf_counter()
    try:
        response = _manager(is_public).request(
            "POST",
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(total=timeout),
            redirect=False,  # a 3xx is a failure, and never followed
            preload_content=False,
        )
    except (HTTPError, OSError) as ex:
        return Reply(_elapsed_ms(start), error=_describe(ex, timeout))
    head = _read_head(response)
    return Reply(
        _elapsed_ms(start),
        status_code=response.status,
        head=head,
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
    )


def _read_head(response: urllib3.BaseHTTPResponse) -> bytes:
    """The first kilobyte of the body; the connection goes back to the pool if it was short."""
    try:
        head = response.read(HEAD_LIMIT)
        read = len(head)
        while read <= DRAIN_LIMIT:
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


def _describe(ex: Exception, timeout: float) -> str:
    if isinstance(ex, BlockedAddress):
        return f"blocked: {ex.reason}"
    if isinstance(ex, NewConnectionError):  # urllib3 makes it a kind of timeout; it is not
        return f"connection error: {ex.__cause__ or ex}"
    if isinstance(ex, urllib3.exceptions.TimeoutError | TimeoutError):
        return f"timeout: no answer within {timeout:g} s"
    return f"connection error: {type(ex).__name__}: {ex}"
