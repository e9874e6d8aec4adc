"""A PostgreSQL server gone silent (a failover, a partition) costs a request seconds, not minutes.

Such a server sends no reset, so nothing tells the client its connection is gone:
libpq's connection parameters (models.bind_args) bound the wait. A server that
accepts a connection and never answers it is made here with a socket; one that
stops acknowledging what is sent cannot be made without changing the machine's
firewall, so for it the test reads what the app's real connection asks of TCP.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

import pytest
from conftest import ENGINE
from fixtures.faults import connecting_with

pytestmark = pytest.mark.skipif(
    ENGINE != "postgres", reason="PostgreSQL only: SQLite has no server"
)


class SilentServer:
    """Accepts TCP connections and never says a word; closes them all after `patience` s."""

    def __init__(self, patience: float):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.closed = threading.Event()
        threading.Thread(target=self._accept, args=(patience,), daemon=True).start()

    def _accept(self, patience: float) -> None:
        deadline = time.monotonic() + patience
        while not self.closed.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                self.accepted.append(self.listener.accept()[0])
        for connection in [*self.accepted, self.listener]:
            connection.close()

    def close(self) -> None:
        self.closed.set()


@contextlib.contextmanager
def silent_database():
    """This thread's database connections go to a server that never answers, then back."""
    server = SilentServer(patience=30)  # past it, a connection attempt fails on its own
    try:
        with connecting_with(host="127.0.0.1", port=server.port):
            yield server
    finally:
        server.close()


def test_a_server_that_never_answers_costs_a_request_seconds_then_503(client, zellyy_signup):
    account = zellyy_signup()
    with silent_database() as server:
        started = time.monotonic()
        me = client.simulate_get("/api/v1/users/me", headers=account.headers)
        waited = time.monotonic() - started
        assert server.accepted, "the app did not try the silent server"

    assert me.status_code == 503, me.text
    assert me.json["error"]["code"] == "service_unavailable"
    assert me.headers["Retry-After"] == "2"
    # libpq gives up after connect_timeout (5 s), not when the server hangs up (30 s).
    assert waited < 15, f"waited {waited:.1f} s for a server that never answers"
    # The server is back: the next request connects to it.
    assert client.simulate_get("/api/v1/users/me", headers=account.headers).status_code == 200


def test_connections_tell_tcp_to_give_up_on_a_server_that_stops_acknowledging(config):
    from pony import orm

    from models import db

    with orm.db_session:
        db.execute("SELECT 1")
        connection = db.provider.pool.con
        with socket.socket(fileno=os.dup(connection.fileno())) as sock:
            user_timeout = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)
            keepalive = sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
            idle = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
            interval = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)
            probes = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)

    # What was sent and not acknowledged for 10 s fails (TCP's default: ~15 minutes).
    assert user_timeout == 10_000
    # An idle connection to a server gone silent is found dead within a minute (TCP's
    # default: after two hours of silence, then nine probes).
    assert keepalive == 1
    assert idle + interval * probes <= 60
