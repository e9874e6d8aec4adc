"""What every process checks before it works: its settings, then its database and broker."""

from __future__ import annotations

import sys
from typing import NoReturn
from urllib.parse import urlsplit

from settings import Config, ConfigError

CONNECT_TIMEOUT = 5  # seconds; a database or broker slower than this to answer is down


def config_or_exit(exit_code: int = 1) -> Config:
    """This process's settings, or exit naming every missing, malformed or unsafe one."""
    try:
        return Config.from_env()
    except ConfigError as ex:
        refuse([f"configuration error: {problem}" for problem in ex.problems], exit_code)


def services_or_exit(config: Config, *, broker: bool = True, exit_code: int = 1) -> None:
    """Exit with one line for each of the database and the broker that does not answer."""
    problems = [database_problem(config.database_url)]
    if broker:
        problems.append(broker_problem(config.redis_url))
    if any(problems):
        refuse([problem for problem in problems if problem], exit_code)


def database_problem(url: str) -> str | None:
    """Why the database at `url` cannot be used, or None. SQLite files are made on first use."""
    if url.startswith("sqlite:"):
        return None
    import psycopg2  # libpq reads postgres:// and postgresql:// URLs as they are

    try:
        psycopg2.connect(url, connect_timeout=CONNECT_TIMEOUT).close()
    except psycopg2.Error as ex:
        return f"database unreachable at {_where(url)}: {_first_line(ex)}"
    return None


def broker_problem(redis_url: str | None) -> str | None:
    """Why the broker cannot be used, or None. Without REDIS_URL it is a local folder."""
    if not redis_url:
        return None
    import redis

    client = redis.Redis.from_url(
        redis_url, socket_timeout=CONNECT_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT
    )
    try:
        client.ping()
    except redis.RedisError as ex:
        return f"broker unreachable at {_where(redis_url)}: {_first_line(ex)}"
    finally:
        client.close()
    return None


def refuse(lines: list[str], exit_code: int) -> NoReturn:
    """Print each line to stderr and exit: no traceback, and nothing half-started (a web
    worker answering 500s, a Celery worker retrying a dead broker forever)."""
    for line in lines:
        print(line, file=sys.stderr)
    sys.stderr.flush()
    sys.exit(exit_code)


def _where(url: str) -> str:
    """The URL without its user and password, which must not reach the logs."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def _first_line(ex: Exception) -> str:
    lines = [line.strip() for line in str(ex).splitlines() if line.strip()]
    return lines[0] if lines else type(ex).__name__
