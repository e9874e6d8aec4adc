"""Applies pending migrations, each once and under a lock; adopts a database older than them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from migrations.schema import differences, schema_of

HERE = Path(__file__).resolve().parent
BASELINE = "0001_baseline"
# The key of PostgreSQL's advisory lock: a constant nothing else in the database uses.
LOCK_KEY = 0x6D6967726174  # "migrat"
# Seconds a SQLite writer waits for the one holding the lock before it fails.
SQLITE_LOCK_WAIT = 600


class MigrationError(Exception):
    """The database is not one the migrations can take forward."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    head: str | None
    applied: tuple[str, ...]
    adopted: bool


def upgrade(database_url: str, revision: str = "head") -> Outcome:
    """Apply what is pending up to `revision` in one transaction that holds the lock.

    A second process started at the same time waits for the first to commit, then
    finds nothing left to do. Everything is rolled back if one migration fails.
    """
    engine = create_engine(database_url)
    try:
        with locked(engine) as connection:
            adopted = _adopt(connection, engine)
            before = current_revision(connection)
            command.upgrade(alembic_config(connection), revision)
            after = current_revision(connection)
    finally:
        engine.dispose()
    script = ScriptDirectory.from_config(alembic_config())
    applied = [r.revision for r in script.iterate_revisions(after, before)] if after else []
    return Outcome(after, tuple(reversed(applied)), adopted)


def create_engine(database_url: str) -> sa.Engine:
    """A SQLAlchemy engine for DATABASE_URL (sqlite:///path or postgres[ql]://...)."""
    url = sa.make_url(database_url)
    if url.get_backend_name() in ("postgres", "postgresql"):
        return sa.create_engine(url.set(drivername="postgresql+psycopg2"), poolclass=sa.NullPool)
    if url.get_backend_name() != "sqlite":
        raise ValueError(f"unsupported DATABASE_URL scheme: {url.drivername!r}")
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url, poolclass=sa.NullPool, connect_args={"timeout": SQLITE_LOCK_WAIT}
    )

    # Python's sqlite3 would begin transactions lazily (and DEFERRED): begin them
    # ourselves, EXCLUSIVE, so that the first statement already holds the write lock.
    @sa.event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin_exclusive(connection):
        connection.exec_driver_sql("BEGIN EXCLUSIVE")

    return engine


@contextmanager
def locked(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One transaction holding the migration lock until it ends.

    PostgreSQL: a transaction-level advisory lock. SQLite: the EXCLUSIVE transaction.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        yield connection


def alembic_config(connection: sa.Connection | None = None) -> AlembicConfig:
    """Alembic's configuration, in code; env.py migrates `connection`."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


def current_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _adopt(connection: sa.Connection, engine: sa.Engine) -> bool:
    """Stamp tables made by Pony's create_tables, before migrations existed, as the baseline."""
    if current_revision(connection) is not None:
        return False
    found = schema_of(connection)
    if not found:
        return False
    problems = differences(_baseline_schema(engine), found)
    if problems:
        raise MigrationError(
            "the database has tables but no migration history, and they are not the "
            f"{BASELINE} schema:\n  " + "\n  ".join(problems)
        )
    command.stamp(alembic_config(connection), BASELINE)
    return True


def _baseline_schema(engine: sa.Engine) -> dict[str, dict]:
    """The schema the baseline migration makes, built where it touches nothing."""
    if engine.dialect.name == "sqlite":
        scratch = create_engine("sqlite://")
        with scratch.begin() as connection:
            command.upgrade(alembic_config(connection), BASELINE)
            return schema_of(connection)
    # PostgreSQL: in a schema of its own, in a transaction that is rolled back.
    with engine.connect() as connection:
        connection.begin()
        try:
            connection.exec_driver_sql("CREATE SCHEMA baseline_check")
            connection.exec_driver_sql("SET LOCAL search_path TO baseline_check")
            command.upgrade(alembic_config(connection), BASELINE)
            return schema_of(connection, schema="baseline_check")
        finally:
            connection.rollback()
