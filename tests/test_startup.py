"""Every process refuses to start wrong: production settings, database and broker, one line each.

Real processes, started as the Procfile starts them: the release command,
gunicorn with gunicorn.conf.py, a Celery worker and Celery beat.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from urllib.parse import urlsplit

import falcon.testing
import pytest
from conftest import DATABASE_URL, ENGINE, REDIS_URL, ROOT, RUN_ID, _free_port
from helpers import wait_for

# A production environment that passes the settings check; the database and the
# broker in it are the run's own (or, in the settings tests, never reached).
PRODUCTION = {
    "APP_ENV": "production",
    "DATABASE_URL": "postgresql://app:pw@127.0.0.1:5432/app",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SECRET_KEY": "s" * 32,
    "SMTP_URL": "smtp+starttls://mailer:pw@smtp.example.com:587",
    "PUBLIC_BASE_URL": "https://api.example.com",
    "CORS_ALLOWED_ORIGINS": "https://rabbit.example.com",
    "MAIL_FROM": "no-reply@example.com",
}
# The line each missing setting gets; all of them name the variable first.
MISSING = {
    "DATABASE_URL": "DATABASE_URL is missing",
    "REDIS_URL": "REDIS_URL is missing",
    "SECRET_KEY": "SECRET_KEY is missing",
    "SMTP_URL": "SMTP_URL is missing",
    "PUBLIC_BASE_URL": "PUBLIC_BASE_URL is missing",
    "CORS_ALLOWED_ORIGINS": "CORS_ALLOWED_ORIGINS is missing",
    "MAIL_FROM": "MAIL_FROM is missing",
}
CELERY = [sys.executable, "-m", "celery", "--app", "worker.celery"]
PROCESSES = {
    "release": [sys.executable, "-m", "api.cli", "migrate"],
    "web": [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "api.wsgi:app"],
    "worker": [*CELERY, "worker", "--pool=solo", "--without-gossip", "--without-mingle"],
    "beat": [*CELERY, "beat"],
}
REFUSED_PORT = _free_port()  # nothing listens there


def start(command: list[str], tmp_path, **env: str) -> subprocess.CompletedProcess:
    """Run a process in a clean environment (not the tests'); its stdout and stderr, merged."""
    base = {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "VAR_DIR": str(tmp_path),
        "PORT": str(_free_port()),
        "CELERY_QUEUE": f"test-{RUN_ID}-startup",
        "WEB_CONCURRENCY": "1",
    }
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**base, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )


def refused(result: subprocess.CompletedProcess, *lines: str) -> None:
    assert result.returncode != 0, result.stdout
    for line in lines:
        assert line in result.stdout
    assert "Traceback" not in result.stdout


@pytest.mark.parametrize("name", sorted(MISSING))
def test_release_refuses_each_missing_production_setting(tmp_path, name):
    env = {k: v for k, v in PRODUCTION.items() if k != name}
    result = start(PROCESSES["release"], tmp_path, **env)
    refused(result, f"configuration error: {MISSING[name]}")
    assert result.stdout.count("configuration error:") == 1


@pytest.mark.parametrize(
    "name, value, line",
    [
        ("DATABASE_URL", "sqlite:///var/app.sqlite3", "DATABASE_URL must be PostgreSQL"),
        ("SECRET_KEY", "s" * 31, "SECRET_KEY is 31 bytes; production needs 32+"),
        ("PUBLIC_BASE_URL", "http://api.example.com", "PUBLIC_BASE_URL must be https://"),
    ],
)
def test_release_refuses_unsafe_production_settings(tmp_path, name, value, line):
    result = start(PROCESSES["release"], tmp_path, **{**PRODUCTION, name: value})
    refused(result, f"configuration error: {line}")


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_every_process_names_every_missing_setting_at_once(tmp_path, process):
    result = start(PROCESSES[process], tmp_path, APP_ENV="production")
    refused(result, *(f"configuration error: {line}" for line in MISSING.values()))


@pytest.mark.parametrize("process", ["web", "worker", "beat"])
def test_every_process_refuses_a_single_missing_setting(tmp_path, process):
    env = {k: v for k, v in PRODUCTION.items() if k != "MAIL_FROM"}
    result = start(PROCESSES[process], tmp_path, **env)
    refused(result, f"configuration error: {MISSING['MAIL_FROM']}")
    assert result.stdout.count("configuration error:") == 1


def test_a_web_worker_started_without_the_config_file_refuses_too(tmp_path):
    """gunicorn's workers check as its master does; the master stops instead of forking again."""
    empty = tmp_path / "bare.conf.py"
    empty.write_text("workers = 1\n")
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    command = [sys.executable, "-m", "gunicorn", "--config", str(empty), "api.wsgi:app"]
    result = start(command, tmp_path, **env)
    refused(result, f"configuration error: {MISSING['SECRET_KEY']}", "Worker failed to boot")


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_an_unreachable_database_is_one_line(tmp_path, process):
    url = f"postgresql://app:secret-pw@127.0.0.1:{REFUSED_PORT}/app"
    result = start(PROCESSES[process], tmp_path, **{**PRODUCTION, "DATABASE_URL": url})
    refused(result, f"database unreachable at postgresql://127.0.0.1:{REFUSED_PORT}/app: ")
    assert "Connection refused" in result.stdout
    assert "secret-pw" not in result.stdout


@pytest.mark.postgres
@pytest.mark.parametrize("process", ["release", "web"])
def test_a_database_that_does_not_exist_is_one_line(tmp_path, process):
    if ENGINE != "postgres":
        pytest.skip("runs with TEST_DATABASE=postgres")
    url = urlsplit(DATABASE_URL)._replace(path=f"/missing_{RUN_ID}").geturl()
    result = start(PROCESSES[process], tmp_path, **{**PRODUCTION, "DATABASE_URL": url})
    refused(result, "database unreachable at ", f'database "missing_{RUN_ID}" does not exist')


@pytest.mark.parametrize("process", ["web", "worker", "beat"])
def test_an_unreachable_broker_is_one_line(tmp_path, process):
    env = {**PRODUCTION, "REDIS_URL": f"redis://:secret-pw@127.0.0.1:{REFUSED_PORT}/0"}
    if DATABASE_URL and DATABASE_URL.startswith("postgresql"):
        env["DATABASE_URL"] = DATABASE_URL  # so that only the broker is down
    result = start(PROCESSES[process], tmp_path, **env)
    refused(result, f"broker unreachable at redis://127.0.0.1:{REFUSED_PORT}/0: ")
    assert "secret-pw" not in result.stdout


def test_the_release_migrates_without_the_broker(tmp_path):
    """Only commands that send tasks need the broker; the release does not wait for it."""
    if ENGINE != "postgres":
        pytest.skip("runs with TEST_DATABASE=postgres")
    env = {
        **PRODUCTION,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": f"redis://127.0.0.1:{REFUSED_PORT}",
    }
    assert start(PROCESSES["release"], tmp_path, **env).returncode == 0
    admin = [sys.executable, "-m", "api.cli", "create-admin", "--email", "a@example.com"]
    result = start([*admin, "--password", "long enough"], tmp_path, **env)
    refused(result, "broker unreachable at ")


@pytest.mark.redis
def test_a_complete_production_environment_serves(tmp_path):
    if ENGINE != "postgres":
        pytest.skip("runs with TEST_DATABASE=postgres")
    port = _free_port()
    env = {**PRODUCTION, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL}
    base = {"PATH": os.environ["PATH"], "VAR_DIR": str(tmp_path), "WEB_CONCURRENCY": "1"}
    web = subprocess.Popen(
        PROCESSES["web"],
        cwd=ROOT,
        env={**base, **env, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import requests

        def ready():
            try:
                return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            except requests.ConnectionError:
                assert web.poll() is None, "gunicorn exited"
                return None

        assert wait_for(ready, timeout=60).json()["checks"] == {"database": "ok", "broker": "ok"}
    finally:
        web.terminate()
        web.wait(30)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    """A real Redis serving TLS only, with a self-signed certificate (as Heroku's does)."""
    import shutil
    import socket
    import time

    from conftest import CI

    if shutil.which("redis-server") is None:
        if CI:
            raise RuntimeError("CI=true but redis-server is not installed")
        pytest.skip("redis-server is not installed")
    folder = tmp_path_factory.mktemp("tls-redis")
    certificate = "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
    subprocess.run(
        ["openssl", *shlex.split(certificate), "-keyout", "key.pem", "-out", "cert.pem"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    tls = f"--port 0 --tls-port {port} --tls-auth-clients no --save ''"
    server = subprocess.Popen(
        [
            "redis-server",
            *shlex.split(tls),
            "--tls-cert-file",
            "cert.pem",
            "--tls-key-file",
            "key.pem",
        ],
        cwd=folder,
        stdout=subprocess.DEVNULL,
    )

    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            assert server.poll() is None, "redis-server exited"
            time.sleep(0.1)
            return False

    wait_for(listening, timeout=20)
    yield f"rediss://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(10)


def test_a_self_signed_tls_redis_is_refused_unless_told(tls_redis):
    from settings import Config
    from startup import broker_problem

    verified = Config.from_env({**PRODUCTION, "REDIS_URL": tls_redis})
    assert "certificate verify failed" in broker_problem(verified.redis_url)


def test_a_self_signed_tls_redis_serves_every_part_when_told(tls_redis):
    """REDIS_SSL_CERT_REQS=none (Heroku's Redis): the checks, Celery and rate limits connect."""
    from celery import Celery

    from api.ratelimit import AuthRateLimiter
    from models.errors import RateLimited
    from settings import Config
    from startup import broker_problem

    env = {**PRODUCTION, "REDIS_URL": tls_redis, "REDIS_SSL_CERT_REQS": "none"}
    url = Config.from_env(env).redis_url
    assert broker_problem(url) is None
    with Celery(broker=url).connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
        connection.default_channel.client.set(f"tls-{RUN_ID}", "1")
        assert connection.default_channel.client.get(f"tls-{RUN_ID}") == b"1"
    # The limiter lets everything through when its store fails: a refusal shows it works.
    limiter = AuthRateLimiter(url, per_email="1/minute", per_ip="100/minute", prefix=RUN_ID)
    request = falcon.testing.create_req()
    limiter.check(request, "tls@example.com")
    with pytest.raises(RateLimited):
        limiter.check(request, "tls@example.com")
