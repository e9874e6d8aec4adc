"""The web process for real: gunicorn with 2 workers adding up their metrics, JSON lines only."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import json_lines, metric, wait_for

from bench.stack import Server

HEALTH = {"method": "GET", "route": "/healthz", "status": "200"}


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is the answer, not somewhere to go


_opener = urllib.request.build_opener(_Stay)


def get(url: str) -> tuple[int, str]:
    try:
        with _opener.open(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as ex:
        return ex.code, ex.read().decode()


def answer(sock: socket.socket, path: str) -> int:
    """Send one request on an open connection; its status."""
    with sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        resp.read()
        return resp.status


def writers(metrics_dir: Path) -> set[int]:
    """The processes that have written request metrics."""
    return {int(p.stem.rpartition("_")[2]) for p in metrics_dir.glob("histogram_*.db")}


def logged_health_checks(server: Server) -> int:
    lines = json_lines(server.log_path.read_text())
    return sum(1 for line in lines if line.get("route") == "/healthz")


@pytest.fixture
def web(config, tmp_path):
    """start() -> a gunicorn of the project's gunicorn.conf.py, 2 workers, metrics in tmp_path."""
    started: list[Server] = []
    env = {
        **os.environ,
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "1",
        "GUNICORN_CMD_ARGS": "--worker-connections 1 --keep-alive 60",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }

    def start() -> Server:
        server = Server(f"web-{len(started)}", "api.wsgi:app", env, tmp_path)
        started.append(server)
        server.start()
        server.wait_ready("/healthz")
        wait_for(lambda: len(server.worker_pids()) == 2)
        return server

    yield start
    for server in started:
        server.stop()


def test_two_workers_add_up_a_dead_one_still_counts_and_a_restart_starts_afresh(web, tmp_path):
    metrics_dir = tmp_path / "metrics"
    server = web()
    # Each worker holds one connection at a time (--worker-connections 1). The
    # first worker to accept holds the first connection, silent, while the other
    # worker (once it has loaded the app) takes and answers the second.
    first, second = (socket.create_connection(("127.0.0.1", server.port)) for _ in range(2))
    assert answer(second, "/healthz") == 200
    assert answer(first, "/healthz") == 200
    assert writers(metrics_dir) == set(server.worker_pids())

    # Whichever worker answers the scrape, it shows what both have counted.
    status, text = get(server.url + "/metrics")
    assert status == 200
    answered = logged_health_checks(server)
    assert answered > 2
    assert metric(text, "http_request_duration_seconds_count", **HEALTH) == answered

    # A worker killed: gunicorn starts another, and the dead one's requests still count.
    victim = server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: victim not in server.worker_pids() and len(server.worker_pids()) == 2)
    status, text = get(server.url + "/metrics")
    assert metric(text, "http_request_duration_seconds_count", **HEALTH) == answered
    server.stop()

    # A new start drops what processes that are gone left behind.
    again = web()
    status, text = get(again.url + "/metrics")
    assert metric(text, "http_request_duration_seconds_count", **HEALTH) == logged_health_checks(
        again
    )
    assert victim not in writers(metrics_dir)


def test_its_output_is_json_lines_without_the_paths_secrets(web, confirm_link):
    server = web()
    link = confirm_link(1)
    token = link.rsplit("/", 1)[1]
    status, _ = get(f"{server.url}{link}?signature=s3cr3t-signature")
    assert status == 303
    # As a platform stops it. The quick shutdown (SIGINT) ends a worker still importing
    # the app with SystemExit mid-import, and Python prints that, not as JSON, to stderr.
    server.stop(signal.SIGTERM)

    text = server.log_path.read_text()
    lines = json_lines(text)  # every line, gunicorn's own included, is JSON
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    [confirm] = [line for line in lines if line.get("route", "").startswith("/api/confirm-user/")]
    assert confirm["route"] == "/api/confirm-user/{user_id}/{token}"
    assert confirm["status"] == 303
    assert token not in text
    assert "s3cr3t-signature" not in text
