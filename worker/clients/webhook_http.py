"""Webhook POSTs: keep-alive pools, a 15 s timeout, and no connecting to non-public addresses."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError, NewConnectionError

from models.clock import utcnow
from models.webhooks import (
    ATTEMPT_TIMEOUT,
    BATCH_SIZE,
    RESPONSE_BODY_LIMIT,
    Outcome,
    is_public_address,
)

USER_AGENT = "Zellyy-Webhooks/1.0"
# Read past the first kilobyte, up to this much, so the connection can be reused.
DRAIN_LIMIT = 64 * 1024
CONNECTIONS_PER_HOST = BATCH_SIZE


class BlockedAddress(NewConnectionError):
    """The host's address is not public: refused at connect time, after DNS (no rebinding)."""

    def __init__(self, conn, reason: str):
        super().__init__(conn, reason)
        self.reason = reason


class _PublicOnly:
    def _new_conn(self):
        sock = super()._new_conn()
        address = sock.getpeername()[0]
        if not is_public_address(address):
            sock.close()
            raise BlockedAddress(self, f"{self.host} connects to a non-public address ({address})")
        return sock


class _PublicHTTPConnection(_PublicOnly, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicOnly, HTTPSConnection):
    pass


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


_managers: dict[tuple[int, bool], urllib3.PoolManager] = {}


def _manager(allow_private: bool) -> urllib3.PoolManager:
    """One thread-safe pool manager per process (never shared across a fork)."""
    key = (os.getpid(), allow_private)
    manager = _managers.get(key)
    if manager is None:
        manager = urllib3.PoolManager(
            num_pools=200,
            maxsize=CONNECTIONS_PER_HOST,
            headers={"User-Agent": USER_AGENT},
            timeout=urllib3.Timeout(total=ATTEMPT_TIMEOUT),
            retries=False,  # retrying is the delivery schedule's job
        )
        if not allow_private:
            manager.pool_classes_by_scheme = {"http": _PublicHTTPPool, "https": _PublicHTTPSPool}
        _managers[key] = manager
    return manager


def post(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool) -> Outcome:
    """One attempt; never raises for what the network or the receiver does."""
    started_at = utcnow()
    start = time.perf_counter()
    try:
        response = _manager(allow_private).request(
            "POST",
            url,
            body=body,
            headers=headers,
            redirect=False,  # a 3xx is a failure, and never followed
            preload_content=False,
        )
    except (HTTPError, OSError) as ex:
        return Outcome(started_at, _elapsed_ms(start), error=_describe(ex))
    head = _read_head(response)
    return Outcome(
        started_at,
        _elapsed_ms(start),
        status_code=response.status,
        body=head,
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
    )


def _read_head(response: urllib3.BaseHTTPResponse) -> str | None:
    """The first kilobyte of the body; the connection goes back to the pool if it was short."""
    try:
        head = response.read(RESPONSE_BODY_LIMIT)
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
    if not head:
        return None
    # Postgres text cannot hold NUL; undecodable bytes become U+FFFD.
    return head.decode("utf-8", "replace").replace("\x00", "\ufffd")


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


def _describe(ex: Exception) -> str:
    if isinstance(ex, BlockedAddress):
        return f"blocked: {ex.reason}"
    if isinstance(ex, NewConnectionError):  # urllib3 makes it a kind of timeout; it is not
        return f"connection error: {ex.__cause__ or ex}"
    if isinstance(ex, urllib3.exceptions.TimeoutError | TimeoutError):
        return f"timeout: no answer within {ATTEMPT_TIMEOUT} s"
    return f"connection error: {type(ex).__name__}: {ex}"
