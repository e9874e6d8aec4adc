"""The webhook HTTP client: only public addresses, in every IPv6 form; timeouts; keep-alive."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections import deque

import pytest

from models.url_safety import is_public_address
from worker.clients import webhook_http

# The forms, each leading to a loopback, link-local or private address.
NON_PUBLIC_FORMS = [
    "::127.0.0.1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::7f00:1",
    "2002:7f00:1::",
    "::ffff:0:7f00:1",
    "fec0::1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
]


def post(url: str, guarded: bool = True, **kwargs) -> webhook_http.Reply:
    return webhook_http.post(
        url,
        b"{}",
        {"content-type": "application/json"},
        timeout=kwargs.pop("timeout", 15),
        connect_timeout=kwargs.pop("connect_timeout", 5),
        is_public=is_public_address if guarded else None,
    )


@pytest.mark.parametrize("address", NON_PUBLIC_FORMS)
def test_every_ipv6_form_of_a_non_public_address_is_refused_before_connecting(address):
    reply = post(f"http://[{address}]:8080/hook")
    assert reply.status_code is None
    # Judged before connecting: none of these is reachable from here, so a check made
    # after connecting would have reported a network error instead.
    assert reply.error.startswith("blocked: ")
    assert address in reply.error


def test_a_mapped_address_reaches_loopback_unless_guarded(receiver):
    url = receiver.url.replace("127.0.0.1", "[::ffff:127.0.0.1]")
    assert post(url, guarded=True).error.startswith("blocked: ")
    assert receiver.received() == []
    assert post(url, guarded=False).status_code == 200  # the form really leads there
    assert len(receiver.received()) == 1


def test_a_name_is_judged_by_the_addresses_it_resolves_to_when_connecting(receiver):
    """A host that passed the check at registration (DNS rebinding) cannot reach a private one."""
    url = receiver.url.replace("127.0.0.1", "localhost")
    reply = post(url)
    assert reply.error.startswith("blocked: ")
    assert "localhost" in reply.error
    assert receiver.received() == []
    assert post(receiver.url, guarded=False).status_code == 200
    assert len(receiver.received()) == 1


def test_a_receiver_that_never_answers_costs_the_attempt_timeout_and_no_more():
    with socket.socket() as listener:  # accepts connections (the kernel does) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
        started = time.monotonic()
        reply = post(url, guarded=False, timeout=1.5, connect_timeout=0.5)
        elapsed = time.monotonic() - started
    assert reply.status_code is None
    assert reply.error == "timeout: no answer within 1.5 s"
    assert elapsed >= 1.4


class RawReceiver:
    """Answers each request with the next of its scripted raw answers; counts its connections.

    With `close_after`, it closes every connection after answering once, without saying so.
    """

    def __init__(self, answers: list[bytes], close_after: bool = False):
        self.answers = deque(answers)
        self.close_after = close_after
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/hook"
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                connection, _address = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(connection,), daemon=True).start()

    def _talk(self, connection: socket.socket) -> None:
        buffer = b""
        with connection:
            try:
                while True:
                    while b"\r\n\r\n" not in buffer:
                        data = connection.recv(65536)
                        if not data:
                            return
                        buffer += data
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])
                    while len(buffer) < length:
                        buffer += connection.recv(65536)
                    buffer = buffer[length:]
                    connection.sendall(self.answers.popleft())
                    if self.close_after:
                        return
            except OSError:
                return  # the client closed its end, as it does after a long body


@pytest.fixture
def raw_receiver():
    started: list[RawReceiver] = []

    def start(answers: list[bytes], close_after: bool = False) -> RawReceiver:
        started.append(RawReceiver(answers, close_after))
        return started[-1]

    yield start
    for receiver in started:
        receiver.close()


def post_all(url: str, count: int) -> list[webhook_http.Reply]:
    """`count` attempts in a row on one client (one event loop), as the senders make them."""

    async def run() -> list[webhook_http.Reply]:
        client = webhook_http.Client()
        try:
            return [
                await client.post(url, b"{}", {"webhook-id": "msg_1"}, timeout=5, connect_timeout=1)
                for _ in range(count)
            ]
        finally:
            await client.close()

    return webhook_http.run_apart(run)  # this thread may have a loop running (earlier tests)


def test_answers_are_read_on_one_kept_connection(raw_receiver):
    receiver = raw_receiver(
        [
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6; ext=1\r\n world\r\n0\r\nTrailer: 1\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 120\r\nContent-Length: 4\r\n\r\nslow",
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\n"
            b"Content-Length: 0\r\n\r\n",
        ]
    )
    replies = post_all(receiver.url, 5)
    assert [r.status_code for r in replies] == [204, 200, 200, 429, 302]  # no redirect followed
    assert [r.error for r in replies] == [None] * 5
    assert replies[1].head == b"x" * webhook_http.HEAD_LIMIT  # the first kilobyte only
    assert replies[2].head == b"hello world"
    assert (replies[3].head, replies[3].retry_after) == (b"slow", 120)
    # Bodies up to the drain limit are read through, so the connection serves the next one.
    assert receiver.connections == 1


def test_a_long_body_or_connection_close_ends_the_connection(raw_receiver):
    receiver = raw_receiver(
        [
            b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"y" * 100000,
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops!",
        ]
    )
    replies = post_all(receiver.url, 4)
    assert [r.status_code for r in replies] == [200, 200, 200, 500]
    assert replies[0].head == b"y" * webhook_http.HEAD_LIMIT
    assert replies[3].head == b"oops!"
    assert receiver.connections == 4


def test_a_switch_of_protocols_ends_the_connection(raw_receiver):
    receiver = raw_receiver(
        [
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ]
    )
    replies = post_all(receiver.url, 2)
    assert [(r.status_code, r.error) for r in replies] == [(101, None), (204, None)]
    assert receiver.connections == 2  # what follows a 101 is not HTTP: never reused


def test_a_kept_connection_the_receiver_closed_is_replaced(raw_receiver):
    receiver = raw_receiver(
        [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"] * 3, close_after=True
    )
    replies = post_all(receiver.url, 3)
    assert [(r.status_code, r.error) for r in replies] == [(200, None)] * 3
    assert receiver.connections == 3


def test_the_synchronous_post_works_where_an_event_loop_runs(receiver):
    async def inside_a_loop() -> webhook_http.Reply:
        return post(receiver.url, guarded=False)

    assert webhook_http.run_apart(inside_a_loop).status_code == 200
    assert len(receiver.received()) == 1
