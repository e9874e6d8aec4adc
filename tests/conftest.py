"""Test set-up: a fresh database per run (SQLite or PostgreSQL), real Redis, a real worker.

The engine comes from TEST_DATABASE (sqlite | postgres). With CI=true a missing
PostgreSQL or Redis fails the run; elsewhere the tests that need them skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import Worker, purge_queues

ROOT = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ENGINE = os.environ.get("TEST_DATABASE", "sqlite")
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = uuid.uuid4().hex[:10]

# Fixture modules under tests/fixtures/, one per area (stripe, platforms, receivers, ...).
pytest_plugins: list[str] = [
    "fixtures.accounts",
    "fixtures.receivers",
    "fixtures.webhooks",
    "fixtures.platforms",
    "fixtures.stripe",
    "fixtures.browser",
    "fixtures.faults",
    "fixtures.redis_server",
    "fixtures.servers",
]
VAR_DIR = Path(tempfile.mkdtemp(prefix=f"zellyy-test-{RUN_ID}-"))


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


HAVE_REDIS = _reachable(REDIS_URL, 6379)
HAVE_POSTGRES = _reachable(PG_ADMIN_URL, 5432)
if CI and not HAVE_REDIS:
    raise RuntimeError(f"CI=true but Redis is not reachable at {REDIS_URL}")
if CI and ENGINE == "postgres" and not HAVE_POSTGRES:
    raise RuntimeError(f"CI=true but PostgreSQL is not reachable at {PG_ADMIN_URL}")


def _create_pg_database(name: str) -> str:
    import psycopg2

    con = psycopg2.connect(PG_ADMIN_URL)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    con.close()
    parts = urlsplit(PG_ADMIN_URL)
    return parts._replace(path=f"/{name}").geturl()


def _drop_pg_database(url: str) -> None:
    import psycopg2

    name = urlsplit(url).path.lstrip("/")
    con = psycopg2.connect(PG_ADMIN_URL)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    con.close()


if ENGINE == "postgres":
    DATABASE_URL = _create_pg_database(f"test_{RUN_ID}") if HAVE_POSTGRES else None
else:
    DATABASE_URL = f"sqlite:///{VAR_DIR / 'test.sqlite3'}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Ports reserved now so that one environment, fixed before anything starts, points
# every part of the system (this process and the worker it starts) at the stand-ins
# the fixtures later start there: our app served over real HTTP, the fake social
# platforms, localstripe.
APP_PORT = _free_port()
PLATFORMS_PORT = _free_port()
STRIPE_PORT = _free_port()
APP_URL = f"http://127.0.0.1:{APP_PORT}"
PLATFORMS_URL = f"http://127.0.0.1:{PLATFORMS_PORT}"
STRIPE_URL = f"http://127.0.0.1:{STRIPE_PORT}"

TEST_ENV = {
    "APP_ENV": "test",
    "VAR_DIR": str(VAR_DIR),
    "SECRET_KEY": "test-secret-key-of-enough-length-" + RUN_ID,
    "PUBLIC_BASE_URL": APP_URL,
    "FACEBOOK_GRAPH_URL": f"{PLATFORMS_URL}/facebook",
    "INSTAGRAM_GRAPH_URL": f"{PLATFORMS_URL}/instagram",
    "TWITTER_API_URL": f"{PLATFORMS_URL}/twitter/2",
    "TWITTER_CLIENT_ID": "test-twitter-client",
    "STRIPE_API_BASE": STRIPE_URL,
    "STRIPE_API_KEY": "sk_test_" + RUN_ID,
    "STRIPE_WEBHOOK_SECRET": "whsec_test_" + RUN_ID,
    # Seconds, so that retries and an endpoint's first pause end within a test.
    "WEBHOOK_RETRY_SCHEDULE": "1,1,2",
    "WEBHOOK_BREAKER_PAUSE": "3",
    "RABBIT_FRONTEND_URL": "http://frontend.test",
    "RATE_LIMIT_LOGIN": "100000/minute",
    "RATE_LIMIT_IP": "100000/minute",
    "RATE_LIMIT_PREFIX": f"rl-{RUN_ID}",
    "CELERY_QUEUE_PREFIX": f"test-{RUN_ID}-",
    "REDBEAT_KEY_PREFIX": f"redbeat-{RUN_ID}:",
    "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
    # This process and the worker it starts add up their metrics here.
    "PROMETHEUS_MULTIPROC_DIR": str(VAR_DIR / "metrics"),
}
if DATABASE_URL:
    TEST_ENV["DATABASE_URL"] = DATABASE_URL
if HAVE_REDIS:
    TEST_ENV["REDIS_URL"] = REDIS_URL
for _name in ("SMTP_URL", "MESSAGES_OPEN_AT", "STRIPE_API_KEY", "STRIPE_API_BASE"):
    os.environ.pop(_name, None)
os.environ.update(TEST_ENV)


def pytest_collection_modifyitems(config, items):
    if ENGINE == "postgres" and not HAVE_POSTGRES:
        skip = pytest.mark.skip(reason="PostgreSQL is not reachable")
        for item in items:
            item.add_marker(skip)
    if not HAVE_REDIS:
        skip = pytest.mark.skip(reason="Redis is not reachable")
        for item in items:
            if "redis" in item.keywords:
                item.add_marker(skip)
    # The run's one real worker lives from the first test that needs it to the end, and
    # takes every task published from then on: tests that need it run last, so that no
    # other test finds a worker acting on its rows (a share posted, a delivery attempted).
    items.sort(key=lambda item: "celery_worker" in getattr(item, "fixturenames", ()))


def pytest_sessionfinish(session, exitstatus):
    if ENGINE == "postgres" and DATABASE_URL:
        from models import db

        if db.provider is not None:
            db.disconnect()
        _drop_pg_database(DATABASE_URL)
    if HAVE_REDIS:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"*{RUN_ID}*"):
            client.delete(key)
    shutil.rmtree(VAR_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def config():
    """The run's settings, on a database built as `release` builds it: by the migrations."""
    from api.cli import migrate
    from models.tasks import set_publisher
    from settings import Config
    from worker.celery import publish

    cfg = Config.from_env()
    migrate(cfg)
    set_publisher(publish)  # as every process does when it starts
    return cfg


@pytest.fixture
def empty_database(tmp_path):
    """Makes fresh, empty databases of the run's engine (beside the suite's); returns URLs."""
    made = []

    def make() -> str:
        name = f"test_{RUN_ID}_{len(made) + 1}"
        if ENGINE == "postgres":
            url = _create_pg_database(name)
        else:
            url = f"sqlite:///{tmp_path / name}.sqlite3"
        made.append(url)
        return url

    yield make
    if ENGINE == "postgres":
        for url in made:
            _drop_pg_database(url)


@pytest.fixture(autouse=True)
def _broker_not_paused():
    """A test that failed this process's publishing leaves the next one a broker to try."""
    yield
    celery_module = sys.modules.get("worker.celery")
    if celery_module is not None:
        celery_module._broker_failed_at = -celery_module.BROKER_PAUSE


@pytest.fixture(autouse=True)
def _clean_database(request):
    """Every test starts with empty tables."""
    yield
    if "config" not in request.fixturenames:
        return
    from pony import orm

    from models import db

    # DELETE, children first, beats TRUNCATE by far on tables this small
    # (about 1 ms against 85 ms for the whole schema on PostgreSQL).
    for tries_left in reversed(range(5)):
        try:
            with orm.db_session:
                for table in _delete_order(db):
                    db.execute(f'DELETE FROM "{table}"')
                if db.provider.dialect == "PostgreSQL":
                    # Ids start again from 1, as TRUNCATE ... RESTART IDENTITY would do.
                    db.execute(
                        "SELECT setval(c.oid, 1, false) FROM pg_class c "
                        "WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace"
                    )
            return
        except orm.dbapiprovider.OperationalError as ex:
            # The worker may still be finishing what a test left (an attempt to a receiver
            # that never answered); PostgreSQL ends one of two such transactions: try again.
            if "deadlock" not in str(ex) or not tries_left:
                raise


def _delete_order(db) -> list[str]:
    """Every table, each after all the tables whose rows point at it."""
    tables = db.schema.tables
    parents = {
        name: {fk.parent_table.name for fk in table.foreign_keys.values()} - {name}
        for name, table in tables.items()
    }
    order: list[str] = []
    pending = set(tables)
    while pending:
        # A table may go once no table still pending points at it.
        ready = sorted(t for t in pending if not any(t in parents[o] for o in pending if o != t))
        if not ready:  # a cycle: let the database sort it out
            ready = sorted(pending)
        order.extend(ready)
        pending -= set(ready)
    return order


@pytest.fixture
def app(config):
    from api.app import create_app

    return create_app(config)


@pytest.fixture
def client(app):
    """A test client whose every answer is checked against the OpenAPI document."""
    from contract import CheckedClient

    return CheckedClient(app)


@pytest.fixture
def sent_tasks(monkeypatch) -> list[tuple[str, dict]]:
    """Tasks this process sends, kept here as (name, kwargs) instead of going to the broker."""
    from worker.celery import app

    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(
        app, "send_task", lambda name, *args, **kwargs: sent.append((name, kwargs.get("kwargs")))
    )
    return sent


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server (aiosmtpd) on loopback; `.messages` holds what it received."""
    from aiosmtpd.controller import Controller

    class Collector:
        def __init__(self):
            self.messages = []
            self.deferred: set[str] = set()

        async def handle_DATA(self, server, session, envelope):
            # A recipient named defer-once-… is refused for now (4xx) the first time.
            for rcpt in envelope.rcpt_tos:
                if rcpt.startswith("defer-once") and rcpt not in self.deferred:
                    self.deferred.add(rcpt)
                    return "451 4.3.0 Try again later"
            self.messages.append(envelope)
            return "250 OK"

    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=_free_port())
    controller.start()
    collector.url = f"smtp://127.0.0.1:{controller.port}"
    yield collector
    controller.stop()


@pytest.fixture(scope="session")
def celery_worker(config, smtp_server):
    """The one real Celery worker process of the run, consuming the run's queues on Redis.

    Its environment is TEST_ENV plus SMTP_URL: every stand-in server it needs is
    already named there. Tests must not start other workers on the same queues.
    """
    if not HAVE_REDIS:
        pytest.skip("the real worker needs Redis")
    # Tests before this one queued tasks (sign-up mail, deliveries) whose rows are long
    # gone; a worker starting on that backlog would be busy with it for minutes.
    purge_queues(config)
    worker = Worker(VAR_DIR / "worker.log", {**os.environ, "SMTP_URL": smtp_server.url})
    yield worker
    worker.stop()
