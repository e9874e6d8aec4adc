"""Migrations make the entities' schema, keep rows, adopt old databases, and run once."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import contextmanager

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from conftest import ROOT
from helpers import cli, wait_for
from previous_release import BO, PREVIOUS_RELEASE, ROWS, stored, uid

from migrations.runner import (
    BASELINE,
    LOCK_KEY,
    alembic_config,
    create_engine,
    current_revision,
)
from migrations.runner import upgrade as migrate
from migrations.schema import differences, schema_of

SCRIPT = ScriptDirectory.from_config(alembic_config())
HEAD = SCRIPT.get_current_head()
EVERY_REVISION = [revision.revision for revision in reversed(list(SCRIPT.walk_revisions()))]

# The process-wide `models.db` is bound to the suite's database: other databases get
# their Pony in a process of their own.
PONY_CREATE_TABLES = """
import sys
from models import bind_args, db
db.bind(**bind_args(sys.argv[1]))
db.generate_mapping(create_tables=True)
"""
PONY_READS_EVERY_ROW = """
import json, sys
from pony import orm
from models import db, init_db
init_db(sys.argv[1])
with orm.db_session:
    print(json.dumps({entity._table_: len(entity.select()[:]) for entity in db.entities.values()}))
"""


def pony(script: str, url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, url], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def read(url: str, what):
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return what(connection)
    finally:
        engine.dispose()


def insert(url: str, rows: dict[str, list[dict]]) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for table, table_rows in rows.items():
                for row in table_rows:
                    columns = ", ".join(f'"{column}"' for column in row)
                    values = ", ".join(f":{column}" for column in row)
                    connection.execute(
                        sa.text(f'INSERT INTO "{table}" ({columns}) VALUES ({values})'),
                        {
                            column: stored(value, engine.dialect.name)
                            for column, value in row.items()
                        },
                    )
    finally:
        engine.dispose()


def every_row(connection: sa.Connection) -> dict[str, list[dict]]:
    found = {}
    for table, shape in schema_of(connection).items():
        order = ", ".join(f'"{column}"' for column in shape["primary_key"])
        result = connection.execute(sa.text(f'SELECT * FROM "{table}" ORDER BY {order}'))
        found[table] = [dict(row._mapping) for row in result]
    return found


def lost(before: dict[str, list[dict]], after: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Rows of `before` not found in `after` with the same values in the columns they had.

    Columns a migration dropped on purpose are not compared (the drift test holds
    the schema to the entities').
    """
    missing: dict[str, list[dict]] = {}
    for table, rows in before.items():
        kept = after.get(table, [])
        for row in rows:
            if not any(_still(row, found).items() <= found.items() for found in kept):
                missing.setdefault(table, []).append(row)
    return missing


def _still(row: dict, found: dict) -> dict:
    return {column: value for column, value in row.items() if column in found}


def made_before_migrations(url: str) -> None:
    """The tables `migrate` made before migrations existed (Pony's create_tables), with rows."""
    migrate(url, BASELINE)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE alembic_version")
    engine.dispose()
    schema = read(url, schema_of)
    insert(
        url,
        {
            table: [{c: v for c, v in row.items() if c in schema[table]["columns"]} for row in rows]
            for table, rows in ROWS.items()
            if table in schema
        },
    )


def test_migrating_an_empty_database_makes_the_schema_the_entities_map_to(empty_database):
    migrated, made_by_pony = empty_database(), empty_database()
    migrate(migrated)
    pony(PONY_CREATE_TABLES, made_by_pony)
    expected = read(made_by_pony, schema_of)
    assert {"users", "cards", "messages", "webhook_attempts", "payments"} <= expected.keys()
    assert differences(expected, read(migrated, schema_of)) == []


def test_every_row_of_the_previous_release_is_there_after_migrating(empty_database):
    url = empty_database()
    migrate(url, PREVIOUS_RELEASE)
    assert ROWS.keys() == read(url, schema_of).keys(), "previous_release.ROWS: a table each"
    insert(url, ROWS)
    before = read(url, every_row)
    assert all(before.values())

    outcome = migrate(url)

    assert outcome.head == HEAD
    assert outcome.applied == tuple(EVERY_REVISION[EVERY_REVISION.index(PREVIOUS_RELEASE) + 1 :])
    after = read(url, every_row)
    assert lost(before, after) == {}
    # ... and the code of this release reads each of them.
    counts = json.loads(pony(PONY_READS_EVERY_ROW, url))
    assert counts == {table: len(rows) for table, rows in after.items()}


def test_a_database_made_before_migrations_is_adopted_with_its_rows(empty_database):
    url = empty_database()
    made_before_migrations(url)
    before = read(url, every_row)
    assert all(before.values())

    result = cli("migrate", DATABASE_URL=url)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"adopted the existing tables as {BASELINE}"] + (
        [f"applied {revision}" for revision in EVERY_REVISION[1:]]
        or [f"schema is up to date at {BASELINE}"]
    )
    assert read(url, current_revision) == HEAD
    assert lost(before, read(url, every_row)) == {}
    again = cli("migrate", DATABASE_URL=url)
    assert again.stdout == f"schema is up to date at {HEAD}\n"


def test_tables_that_are_not_the_baseline_are_left_alone(empty_database):
    url = empty_database()
    made_before_migrations(url)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql('DROP INDEX "idx_cards__owner_updated_at_id"')
        connection.exec_driver_sql('ALTER TABLE "users" ADD COLUMN "nickname" VARCHAR(20)')
    engine.dispose()
    before = read(url, every_row)

    result = cli("migrate", DATABASE_URL=url)

    assert result.returncode == 1
    assert f"not the {BASELINE} schema" in result.stderr
    assert "cards indexes: missing (('owner', 'updated_at', 'id'), False)" in result.stderr
    assert "users.nickname: expected None" in result.stderr
    assert "Traceback" not in result.stderr
    assert read(url, current_revision) is None
    assert read(url, every_row) == before


def test_two_releases_started_together_apply_each_migration_once(empty_database):
    url = empty_database()
    with lock_held(url) as count_waiting:
        releases = [
            subprocess.Popen(
                [sys.executable, "-m", "api.cli", "migrate"],
                cwd=ROOT,
                env={**os.environ, "DATABASE_URL": url},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]

        def both_wait() -> bool:
            assert all(release.poll() is None for release in releases), "a release ended early"
            return count_waiting(releases) == 2

        wait_for(both_wait, timeout=90)
    outputs = [release.communicate(timeout=120) for release in releases]

    assert [release.returncode for release in releases] == [0, 0], outputs
    applied_all = "".join(f"applied {revision}\n" for revision in EVERY_REVISION)
    assert sorted(stdout for stdout, _ in outputs) == sorted(
        [applied_all, f"schema is up to date at {HEAD}\n"]
    )
    versions = read(url, lambda c: c.exec_driver_sql("SELECT * FROM alembic_version").all())
    assert versions == [(HEAD,)]


@contextmanager
def lock_held(url: str):
    """Hold what `migrate` waits for; yields a count of the processes waiting for it.

    PostgreSQL: the advisory lock (pg_locks shows who waits). SQLite: an exclusive
    transaction (waited for by the processes that have the file open).
    """
    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            yield lambda _releases: connection.exec_driver_sql(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).scalar_one()
        engine.dispose()
        return
    path = os.path.realpath(engine.url.database)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield lambda releases: sum(path in open_files(release.pid) for release in releases)
    finally:
        holder.close()


def open_files(pid: int) -> set[str]:
    fds = f"/proc/{pid}/fd"
    return {os.path.realpath(os.path.join(fds, fd)) for fd in os.listdir(fds)}


def test_messages_of_authors_who_withdrew_earlier_go_and_their_recipients_are_recounted(
    empty_database,
):
    url = empty_database()
    migrate(url, "0001_baseline")
    users = {"users": ROWS["users"]}
    message = ROWS["messages"][0]
    orphans = [
        {**message, "id": 2, "author_id": None, "amount": 500, "is_moneybag": False},
        {**message, "id": 3, "author_id": None, "amount": 1000, "is_moneybag": False},
    ]
    insert(url, users)
    insert(url, {"messages": [message, *orphans]})
    insert(
        url, {"message_totals": [{"recipient_id": BO, "message_count": 3, "total_amount": 11500}]}
    )

    migrate(url, "0002_withdrawn_authors")

    def messages_and_totals(connection):
        ids = connection.exec_driver_sql("SELECT id FROM messages ORDER BY id").scalars().all()
        totals = connection.exec_driver_sql(
            "SELECT message_count, total_amount FROM message_totals"
        ).all()
        return ids, [tuple(row) for row in totals]

    assert read(url, messages_and_totals) == ([1], [(1, 10000)])


def test_pending_shares_are_due_for_the_sweeper_after_migrating(empty_database):
    url = empty_database()
    migrate(url, "0006_pending_delivery_indexes")
    settled = ROWS["shares"][0]
    pending = {
        **settled,
        "id": uid(99),
        "status": "pending",
        "share_url": None,
        "shared_at": None,
        "platform_post_id": None,
        "post_started_at": None,
    }
    insert(url, {"users": ROWS["users"], "cards": ROWS["cards"]})
    insert(url, {"shares": [settled, pending]})

    migrate(url, "0007_share_next_attempt")

    def due(connection):
        rows = connection.exec_driver_sql(
            "SELECT status, next_attempt_at, created_at FROM shares ORDER BY status"
        ).all()
        return [tuple(row) for row in rows]

    (still_pending, success) = read(url, due)
    assert still_pending[0] == "pending"
    assert still_pending[1] == still_pending[2]  # due since it was made
    assert success[:2] == ("success", None)
