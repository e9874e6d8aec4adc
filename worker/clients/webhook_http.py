"""Webhook POSTs on asyncio: keep-alive connections, a deadline, if asked only public addresses.

Plain values in and out: a URL, headers, a body and a timeout go in; the
status, the start of the body, Retry-After and the time taken, or a network
error, come out. A small HTTP/1.1 client of its own rather than a general one:
a webhook attempt is one POST whose answer is a status, a few headers and a
body worth its first kilobyte, and the senders make thousands a second on one
event loop, so what each costs is what the worker costs. No redirect is
followed (a 3xx is an answer like any other), nothing is retried here (that is
the delivery schedule's job), https verifies the certificate and the name.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar
from urllib.parse import quote, urlsplit

USER_AGENT = "Zellyy-Webhooks/1.0"
HEAD_LIMIT = 1024  # bytes of the answer's body returned
# Read past the head, up to this much, so the connection can be reused.
DRAIN_LIMIT = 64 * 1024
# Idle connections kept per host: more than the attempts one endpoint may have in flight (8
# unless configured otherwise), so that each finds one to reuse.
CONNECTIONS_PER_HOST = 32
# The status line and headers of an answer, at most.
HEADERS_LIMIT = 64 * 1024
_NO_BODY = frozenset({204, 304})
T = TypeVar("T")


@dataclass(frozen=True)
class Reply:
    """What one POST came to: the receiver's answer, or `error` when there was none."""

    duration_ms: int
    status_code: int | None = None
    head: bytes = b""
    retry_after: float | None = None
    error: str | None = None


class BlockedAddress(Exception):
    """The host resolves to a non-public address: refused before connecting to anything."""


class _ConnectTimeout(Exception):
    pass


class _BadAnswer(Exception):
    pass


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # a name, or an address literal without brackets
    port: int
    literal: bool
    start: bytes  # the request line and the headers every request to this URL has

    @property
    def key(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


@functools.lru_cache(maxsize=4096)
def _target(url: str) -> _Target:
    """What a URL names, parsed once per process (ValueError if it is not an http(s) URL)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        literal = True
    except ValueError:
        literal = False
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
    shown = f"[{host}]" if ":" in host else host
    if parts.port is not None and port != (443 if parts.scheme == "https" else 80):
        shown += f":{port}"
    target = quote(parts.path or "/", safe="/%!$&'()*+,;=:@-._~")
    if parts.query:
        target += "?" + quote(parts.query, safe="/?%!$&'()*+,;=:@-._~")
    start = (
        f"POST {target} HTTP/1.1\r\nHost: {shown}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept-Encoding: identity\r\n"
    )
    return _Target(parts.scheme, host, port, literal, start.encode("ascii"))


def _request(target: _Target, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"Content-Length: {len(body)}\r\n"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise ValueError(f"invalid header {name!r}")
        lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    return target.start + "".join(lines).encode("latin-1") + body


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        """Idle and still open: the receiver has not closed it meanwhile."""
        return not (self.writer.is_closing() or self.reader.at_eof())

    def close(self) -> None:
        self.writer.close()


class Client:
    """The webhook connections of one event loop: kept alive per (scheme, host, port).

    With `is_public`, a host is resolved when a connection to it is made, every
    address it resolves to is judged, and only those addresses are connected
    to: DNS rebinding has nothing to win, and a refused host sees no packet.
    """

    def __init__(self, is_public: Callable[[str], bool] | None = None):
        self.is_public = is_public
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    async def post(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        *,
        timeout: float,
        connect_timeout: float | None = None,
    ) -> Reply:
        """One attempt; never raises for what the network or the receiver does.

        `timeout` bounds the attempt: connecting (at most `connect_timeout`),
        waiting for the answer and reading the start of its body.
        """
        start = time.perf_counter()
        try:
            target = _target(url)
            request = _request(target, body, headers)
        except ValueError as ex:
            return Reply(0, error=f"connection error: {ex}")
        status, fields, head = None, {}, b""
        connection = None
        try:
            async with asyncio.timeout(timeout):
                connection, status, fields = await self._exchange(target, request, connect_timeout)
                head = await self._read_body(target, connection, status, fields)
        except BlockedAddress as ex:
            return Reply(_elapsed_ms(start), error=f"blocked: {ex}")
        except _ConnectTimeout:
            return Reply(
                _elapsed_ms(start),
                error=f"timeout: no connection within {connect_timeout or timeout:g} s",
            )
        except TimeoutError:
            if status is None:
                return Reply(_elapsed_ms(start), error=f"timeout: no answer within {timeout:g} s")
            connection.close()  # the status arrived; the body was cut at the deadline
        except _BadAnswer as ex:
            return Reply(_elapsed_ms(start), error=f"connection error: bad answer: {ex}")
        except asyncio.IncompleteReadError:
            return Reply(
                _elapsed_ms(start), error="connection error: closed before a complete answer"
            )
        except (OSError, ValueError, asyncio.LimitOverrunError) as ex:
            return Reply(_elapsed_ms(start), error=f"connection error: {_describe(ex)}")
        return Reply(
            _elapsed_ms(start),
            status_code=status,
            head=head,
            retry_after=retry_after_seconds(_text(fields.get(b"retry-after"))),
        )

    async def close(self) -> None:
        """Close the idle connections (those in use close as their attempts end)."""
        idle = [c for found in self._idle.values() for c in found]
        self._idle.clear()
        for connection in idle:
            connection.close()
        for connection in idle:
            with contextlib.suppress(OSError, ssl.SSLError):
                await connection.writer.wait_closed()

    async def _exchange(
        self, target: _Target, request: bytes, connect_timeout: float | None
    ) -> tuple[_Connection, int, dict[bytes, bytes]]:
        """Send the request and read the answer's head, on a kept connection if there is one.

        A kept connection that the receiver closed before answering anything
        (it closes idle ones when it likes) is replaced by a new one, once.
        """
        connection = self._reuse(target.key)
        if connection is not None:
            try:
                return connection, *await _send(connection, request)
            except (asyncio.IncompleteReadError, ConnectionError) as ex:
                connection.close()
                if isinstance(ex, asyncio.IncompleteReadError) and ex.partial:
                    raise
            except BaseException:
                connection.close()
                raise
        connection = await self._connect(target, connect_timeout)
        try:
            return connection, *await _send(connection, request)
        except BaseException:
            connection.close()
            raise

    def _reuse(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if connection.usable():
                return connection
            connection.close()
        return None

    def _keep(self, key: tuple[str, str, int], connection: _Connection) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) < CONNECTIONS_PER_HOST and connection.usable():
            idle.append(connection)
        else:
            connection.close()

    async def _connect(self, target: _Target, connect_timeout: float | None) -> _Connection:
        if target.literal:
            addresses = [target.host]
        else:
            infos = await asyncio.get_running_loop().getaddrinfo(
                target.host, target.port, type=socket.SOCK_STREAM
            )
            addresses = list(dict.fromkeys(info[4][0] for info in infos))
        if self.is_public is not None:
            for address in addresses:
                if not self.is_public(address):
                    raise BlockedAddress(
                        f"Host {target.host!r} resolves to a non-public address ({address})"
                    )
        tls = self._tls_context() if target.scheme == "https" else None
        for n, address in enumerate(addresses):
            try:
                async with asyncio.timeout(connect_timeout):
                    reader, writer = await asyncio.open_connection(
                        address,
                        target.port,
                        ssl=tls,
                        server_hostname=target.host if tls else None,
                        limit=HEADERS_LIMIT,
                    )
                return _Connection(reader, writer)
            except TimeoutError:
                raise _ConnectTimeout from None
            except OSError:
                if n == len(addresses) - 1:
                    raise
        raise OSError(f"Host {target.host!r} has no address")

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    async def _read_body(
        self, target: _Target, connection: _Connection, status: int, fields: dict[bytes, bytes]
    ) -> bytes:
        """The first kilobyte of the body; the connection is kept if the rest was short.

        A body cut short does not change the status that arrived: the connection
        is closed (as it is when the attempt's deadline cuts the body).
        """
        reader = connection.reader
        head = b""
        try:
            if status in _NO_BODY or status < 200:
                reusable = status != 101  # after 101 the connection speaks something else
            elif b"chunked" in fields.get(b"transfer-encoding", b"").lower():
                head, reusable = await _read_chunked(reader)
            elif b"content-length" in fields:
                length = int(fields[b"content-length"])
                if length < 0:
                    raise _BadAnswer("negative Content-Length")
                head = await reader.readexactly(min(length, HEAD_LIMIT))
                rest = length - len(head)
                reusable = rest <= DRAIN_LIMIT
                if rest and reusable:
                    await reader.readexactly(rest)
            else:  # the body ends when the connection does
                head, reusable = await _read_to_end(reader), False
        except (OSError, ValueError, _BadAnswer, asyncio.IncompleteReadError):
            head, reusable = b"", False
        if reusable and fields.get(b"connection", b"").lower() != b"close":
            self._keep(target.key, connection)
        else:
            connection.close()
        return head


async def _send(connection: _Connection, request: bytes) -> tuple[int, dict[bytes, bytes]]:
    connection.writer.write(request)
    while True:
        status, version, fields = _parse_head(await connection.reader.readuntil(b"\r\n\r\n"))
        if status == 101 or status >= 200:
            break  # 1xx (100 Continue, 103 Early Hints) come before the answer itself
    if version != b"HTTP/1.1":  # HTTP/1.0 keeps nothing alive unless asked; it is not asked
        fields[b"connection"] = b"close"
    return status, fields


def _parse_head(block: bytes) -> tuple[int, bytes, dict[bytes, bytes]]:
    lines = block.split(b"\r\n")
    status_line = lines[0].split(None, 2)
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1."):
        raise _BadAnswer(f"status line {lines[0][:80]!r}")
    try:
        status = int(status_line[1])
    except ValueError:
        raise _BadAnswer(f"status line {lines[0][:80]!r}") from None
    if not 100 <= status <= 999:
        raise _BadAnswer(f"status {status}")
    fields = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            raise _BadAnswer(f"header line {line[:80]!r}")
        fields[name.strip().lower()] = value.strip()
    return status, status_line[0], fields


async def _read_chunked(reader: asyncio.StreamReader) -> tuple[bytes, bool]:
    head, read = [], 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadAnswer(f"chunk size {size_line[:40]!r}") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return b"".join(head)[:HEAD_LIMIT], True
        if read + size > HEAD_LIMIT + DRAIN_LIMIT:
            if read < HEAD_LIMIT:
                head.append(await reader.readexactly(HEAD_LIMIT - read))
            return b"".join(head)[:HEAD_LIMIT], False
        chunk = await reader.readexactly(size)
        if read < HEAD_LIMIT:
            head.append(chunk[: HEAD_LIMIT - read])
        read += size
        await reader.readexactly(2)


async def _read_to_end(reader: asyncio.StreamReader) -> bytes:
    head, read = b"", 0
    while read <= HEAD_LIMIT + DRAIN_LIMIT:
        chunk = await reader.read(8192)
        if not chunk:
            break
        if len(head) < HEAD_LIMIT:
            head += chunk[: HEAD_LIMIT - len(head)]
        read += len(chunk)
    return head


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    connect_timeout: float | None = None,
    is_public: Callable[[str], bool] | None = None,
) -> Reply:
    """One attempt from synchronous code, on a connection of its own; never raises.

    The senders keep connections alive on their event loop instead (`Client`).
    """

    async def once() -> Reply:
        client = Client(is_public)
        try:
            return await client.post(
                url, body, headers, timeout=timeout, connect_timeout=connect_timeout
            )
        finally:
            await client.close()

    return run_apart(once)


def run_apart(coroutine_function: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to its end on an event loop and a thread of its own.

    For synchronous callers, whatever their thread: one with an event loop
    running (an async caller, a test harness) cannot run another.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="webhook-once") as pool:
        return pool.submit(lambda: asyncio.run(coroutine_function())).result()


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


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _elapsed_ms(start: float) -> int:
    return round((time.perf_counter() - start) * 1000)


def _describe(ex: BaseException) -> str:
    if isinstance(ex, ssl.SSLError | ssl.CertificateError):
        return f"TLS: {ex}"
    if isinstance(ex, asyncio.LimitOverrunError):
        return f"answer headers longer than {HEADERS_LIMIT} bytes"
    return str(ex) or type(ex).__name__
