"""The Pony database, its entities, and binding it once per process."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import threading
import time
import weakref
from urllib.parse import urlsplit

import psycopg2
import psycopg2.extensions
from pony import orm
from pony.orm.dbapiprovider import Pool
from pony.orm.dbproviders.postgres import PGPool, PGProvider

db = orm.Database()


def select_rows(sql: str, params: dict) -> list[tuple]:
    """The rows of a read-only raw SELECT with `$name` parameters, as plain tuples.

    For hot read paths: `db.select` builds a new row class for every call, and
    `db.execute` switches the session to a transaction (BEGIN and COMMIT round
    trips); this runs like a Pony query, in the session's current mode, with its
    reconnect rules. On PostgreSQL, outside a transaction, the statement is
    prepared once per connection (PREPARE, then EXECUTE): the server plans it
    once instead of on every request, a third of the CPU a short query costs it.
    """
    if db.provider.dialect == "PostgreSQL":
        cache = db._get_cache()
        if not (cache.immediate or cache.in_transaction):
            return _execute_prepared(cache, sql, params)
    return _rows(sql, params)


def _rows(sql: str, params: dict) -> list[tuple]:
    return db._exec_raw_sql(sql, {}, params, frame_depth=0).fetchall()


# The statements prepared on each PostgreSQL connection (gone with the connection).
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_UNKNOWN_STATEMENT = "26000"  # invalid_sql_statement_name


def _execute_prepared(cache, sql: str, params: dict) -> list[tuple]:
    name, prepare, execute, direct = _prepared_forms(sql)
    connection = cache.prepare_connection_for_query_execution()
    if name in _prepared.get(connection, ()):
        # The usual case, straight to the driver: Pony's raw SQL path costs as much
        # Python as the round trip. An error leaves nothing behind in autocommit: the
        # statement runs again the Pony way below, on a new connection if this one
        # was lost (Pony's reconnect rules decide).
        started = time.time()
        try:
            with connection.cursor() as cursor:
                cursor.execute(direct, params)
                rows = cursor.fetchall()
        except psycopg2.Error as ex:
            if connection.closed:
                cache.reconnect(ex)
        else:
            db._update_local_stat(execute, started)  # counted as Pony counts its own
            return rows
    for attempt in (1, 2):
        connection = cache.prepare_connection_for_query_execution()
        if name not in _prepared.get(connection, ()):
            db._exec_raw_sql(prepare, {}, {}, frame_depth=0)
            # The connection now: Pony may have replaced a lost one and prepared there.
            _prepared.setdefault(cache.connection, set()).add(name)
        try:
            return _rows(execute, params)
        except orm.dbapiprovider.DatabaseError as ex:
            # Pony replaced a lost connection and ran EXECUTE on the new one, which
            # has no such statement yet (autocommit: nothing else was lost): again.
            unknown = getattr(ex.original_exc, "pgcode", None) == _UNKNOWN_STATEMENT
            if attempt == 2 or not unknown:
                raise
    raise AssertionError("unreachable")


@functools.lru_cache(maxsize=64)
def _prepared_forms(sql: str) -> tuple[str, str, str, str]:
    """(name, PREPARE, EXECUTE) of a statement with `$name` parameters, in Pony's raw SQL,
    and the EXECUTE in psycopg2's form (`%(name)s`)."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"$${names.index(match.group(1)) + 1}"  # `$$`: a literal `$` for Pony

    body = _PARAMETER.sub(number, sql)
    name = "q_" + hashlib.sha1(sql.encode()).hexdigest()[:16]  # noqa: S324 (a name, not a secret)
    execute = f"EXECUTE {name}({', '.join('$' + n for n in names)})" if names else f"EXECUTE {name}"
    direct = pyformat(execute)
    return name, f"PREPARE {name} AS {body}", execute, direct


_PARAMETER = re.compile(r"\$([A-Za-z_]\w*)")  # `$name` in raw SQL


@functools.lru_cache(maxsize=512)
def pyformat(sql: str) -> str:
    """Raw SQL's `$name` parameters as psycopg2 takes them (`%(name)s`), for Pony's bypass."""
    return _PARAMETER.sub(r"%(\1)s", sql)


# Entities register themselves on `db` when their modules are imported.
from models import (  # noqa: E402, F401
    cards,
    events,
    idempotency,
    mail_outbox,
    messages,
    open_day,
    payments,
    sessions,
    shares,
    social,
    subscriptions,
    users,
    webhooks,
)

_lock = threading.Lock()


def init_db(url: str) -> orm.Database:
    """Bind and map `db` once per process, onto tables the migrations made.

    Safe across fork: Pony's connection pool notices a changed pid and opens a
    fresh connection in the child instead of sharing the parent's socket.
    """
    with _lock:
        if db.provider is None:
            db.bind(**bind_args(url))
            db.generate_mapping()
        return db


class _RollbackOnlyPool(PGPool):
    # No DISCARD ALL (one round trip less): safe, we set no session state (SET, temp tables…).
    release = Pool.release  # a plain ROLLBACK, dropping the connection if that fails


class _PostgresProvider(PGProvider):
    """Pony's PostgreSQL provider with the pool above (Pony binds a provider class as is).

    Bound as a class, `db.provider_name` stays None, so `on_connect(provider="postgres")`
    hooks would not run (there are none; `db.provider.dialect` tells the engines apart).
    """

    def get_pool(self, *args, **kwargs):
        return _RollbackOnlyPool(self.dbapi_module, *args, **kwargs)

    def should_reconnect(self, exc) -> bool:
        """Pony reconnects and re-runs the failed statement; only outside a transaction.

        Inside one, the re-run statement would start a new transaction on the new
        connection without what the old one had written, and commit that half
        (Pony's own guard against it never fires: dropping the connection clears
        its in-transaction flag first). The error goes up instead: the session
        rolls back, the dead connection leaves the pool, the next session
        connects anew.
        """
        connection = self.pool.con  # this thread's, the one that failed
        idle = connection is not None and connection.status == psycopg2.extensions.STATUS_READY
        return idle and super().should_reconnect(exc)


# A database gone from the network (a failover that moves its address, a partition)
# sends no reset: left to TCP's defaults, a connection attempt waits about two
# minutes and a statement already sent about fifteen, each holding its request's
# thread. With these, a connection attempt gives up after 5 s, a statement whose
# bytes the server does not acknowledge after 10 s, and an idle connection whose
# server stopped answering is found dead within a minute. The error is a lost
# connection (connection_lost): 503 for a request, a retry for a task.
_GIVE_UP_ON_A_SILENT_SERVER = {
    "connect_timeout": 5,
    "tcp_user_timeout": 10_000,  # milliseconds
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def bind_args(url: str) -> dict:
    """Turn DATABASE_URL into Pony's bind arguments."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else parts.path
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return {"provider": "sqlite", "filename": path, "create_db": True}
    if parts.scheme in ("postgres", "postgresql"):
        return {
            "provider": _PostgresProvider,
            # Statements prepared by select_rows keep one plan: left to choose,
            # PostgreSQL plans them anew on every run when the plan it would keep
            # looks costlier (it does for the message page: 0.17 ms of planning each
            # time). Pony prepares nothing else, so nothing else changes.
            "options": "-c plan_cache_mode=force_generic_plan",
            **_GIVE_UP_ON_A_SILENT_SERVER,
            # The URL as libpq reads it, as the start-up check and the migrations do:
            # several hosts, and the parameters of its query (sslmode=verify-full,
            # sslrootcert=…, connect_timeout=…) over the defaults above.
            **psycopg2.extensions.parse_dsn(url),
        }
    raise ValueError(f"unsupported DATABASE_URL scheme: {parts.scheme!r}")


@db.on_connect(provider="sqlite")
def _sqlite_pragmas(database, connection):
    cursor = connection.cursor()
    # WAL lets the web and worker processes read while one writes; the busy
    # timeout makes writers queue instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA busy_timeout = 10000")
    cursor.execute("PRAGMA foreign_keys = ON")


def connection_lost(ex: BaseException) -> bool:
    """Whether `ex`, or a database error it wraps, says the connection to PostgreSQL is gone.

    The server rolls back the transaction of a connection it loses, and the next
    transaction opens a new connection: the caller may try again. (Only a
    connection lost while the COMMIT itself was under way leaves the outcome
    unknown.)
    """
    pending = [ex]
    while pending:
        error = pending.pop()
        if isinstance(error, psycopg2.InterfaceError):  # "connection already closed"
            return True
        if isinstance(error, psycopg2.OperationalError) and _lost_connection_code(error.pgcode):
            return True
        # Pony wraps the driver's errors, and a failed commit lists the errors it met.
        pending.extend(filter(None, [getattr(error, "original_exc", None)]))
        pending.extend(info[1] for info in getattr(error, "exceptions", ()))
    return False


def _lost_connection_code(pgcode: str | None) -> bool:
    # None: the client saw the socket close; 08: connection exception;
    # 57P: the server ended the session (terminated, crashed, starting up).
    return pgcode is None or pgcode.startswith(("08", "57P"))
