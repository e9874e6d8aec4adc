"""DATABASE_URL is read as libpq reads it: what its query asks of the connection, it gets."""

from __future__ import annotations

import pytest
from conftest import DATABASE_URL, ENGINE
from pony import orm

from models import bind_args, db

pytestmark = pytest.mark.skipif(ENGINE != "postgres", reason="PostgreSQL only: a URL of libpq")


def _bound(url: str) -> orm.Database:
    database = orm.Database()
    database.bind(**bind_args(url))
    return database


def test_the_query_of_the_url_reaches_the_connection(config):
    database = _bound(f"{DATABASE_URL}?application_name=url-test&connect_timeout=3")
    try:
        with orm.db_session:
            (name,) = database.select("SELECT current_setting('application_name')")
        assert name == "url-test"
        # The URL's own setting wins over the app's default (5 s).
        assert database.provider.pool.con.get_dsn_parameters()["connect_timeout"] == "3"
    finally:
        database.disconnect()


def test_a_url_that_requires_tls_is_never_served_without_it(config):
    with orm.db_session:
        (ssl,) = db.select("SELECT current_setting('ssl')")
    url = f"{DATABASE_URL}?sslmode=require"
    if ssl == "off":
        # The server offers no TLS: the connection is refused, not made in the clear.
        with pytest.raises(orm.dbapiprovider.OperationalError, match="SSL"):
            _bound(url)
        return
    database = _bound(url)
    try:
        with orm.db_session:
            (encrypted,) = database.select(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            )
        assert encrypted is True
    finally:
        database.disconnect()
