"""/healthz (the process answers) and /readyz (database and broker reachable, else 503)."""

import dataclasses
import socket
import threading
from urllib.parse import urlsplit

import pytest
from conftest import ENGINE, HAVE_REDIS, PG_ADMIN_URL
from contract import CheckedClient

from api.app import create_app


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def get_in_new_thread(client, path):
    """A request from a thread of its own, so the app opens a fresh database connection."""
    result = []
    thread = threading.Thread(target=lambda: result.append(client.simulate_get(path)))
    thread.start()
    thread.join()
    return result[0]


def test_healthz(client):
    resp = client.simulate_get("/healthz")
    assert resp.status_code == 200
    assert resp.json == {"status": "ok"}


@pytest.mark.skipif(not HAVE_REDIS, reason="the configured broker is Redis")
def test_readyz_when_everything_answers(client):
    resp = client.simulate_get("/readyz")
    assert resp.status_code == 200
    assert resp.json == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_readyz_503_when_redis_does_not_answer(config):
    broken = dataclasses.replace(config, redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    client = CheckedClient(create_app(broken))
    resp = client.simulate_get("/readyz")
    assert resp.status_code == 503
    assert resp.json["status"] == "unavailable"
    assert resp.json["checks"] == {"database": "ok", "broker": "unreachable"}
    # Liveness does not depend on the broker.
    assert client.simulate_get("/healthz").status_code == 200


def test_readyz_in_embedded_mode_needs_the_broker_folder(config, tmp_path):
    embedded = dataclasses.replace(config, redis_url=None, var_dir=tmp_path)
    client = CheckedClient(create_app(embedded))
    missing = client.simulate_get("/readyz")
    assert missing.status_code == 503
    assert missing.json["checks"]["broker"] == "unreachable"
    (tmp_path / "broker").mkdir()
    present = client.simulate_get("/readyz")
    assert present.status_code == 200
    assert present.json["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.skipif(ENGINE != "postgres", reason="an open SQLite file cannot become unreachable")
def test_readyz_503_when_the_database_refuses_connections(config, client):
    import psycopg2

    name = urlsplit(config.database_url).path.lstrip("/")
    admin = psycopg2.connect(PG_ADMIN_URL)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        down = get_in_new_thread(client, "/readyz")
        assert down.status_code == 503
        assert down.json["checks"]["database"] == "unreachable"
        assert get_in_new_thread(client, "/healthz").status_code == 200
    finally:
        with admin.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        admin.close()
    up = get_in_new_thread(client, "/readyz")
    assert up.json["checks"]["database"] == "ok"


def test_health_routes_need_no_token(client):
    for path in ("/healthz", "/readyz"):
        assert client.simulate_get(path).status_code in (200, 503)
