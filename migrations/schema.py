"""A database's schema as plain data, read alike from SQLite and PostgreSQL, and compared.

Names of indexes and constraints are left out (each engine names unnamed ones its
own way); a unique constraint and a unique index on the same columns count as one.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

VERSION_TABLE = "alembic_version"


def schema_of(connection: sa.Connection, schema: str | None = None) -> dict[str, dict]:
    """Every table but Alembic's: columns, primary key, indexes, foreign keys.

    `schema`: a PostgreSQL schema other than the default one.
    """
    inspector = sa.inspect(connection)
    sqlite = connection.dialect.name == "sqlite"
    tables = {}
    for table in inspector.get_table_names(schema=schema):
        if table == VERSION_TABLE:
            continue
        primary_key = inspector.get_pk_constraint(table, schema=schema)["constrained_columns"]
        columns = {}
        for column in inspector.get_columns(table, schema=schema):
            columns[column["name"]] = {
                "type": column["type"].compile(dialect=connection.dialect),
                # SQLite reports an INTEGER PRIMARY KEY as nullable; no key column is.
                "nullable": column["nullable"] and column["name"] not in primary_key,
                "default": _default(column.get("default")),
            }
        indexes = {
            (tuple(index["column_names"]), bool(index["unique"]))
            for index in inspector.get_indexes(table, schema=schema)
            if not index.get("duplicates_constraint")
        }
        indexes |= {
            (tuple(unique["column_names"]), True)
            for unique in inspector.get_unique_constraints(table, schema=schema)
        }
        if sqlite:
            _read_sqlite_catalogue(connection, table, columns)
            foreign_keys = _sqlite_foreign_keys(connection, table)
        else:
            foreign_keys = {
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    fk["options"].get("ondelete", "NO ACTION").upper(),
                )
                for fk in inspector.get_foreign_keys(table, schema=schema)
            }
        tables[table] = {
            "columns": columns,
            "primary_key": primary_key,
            "indexes": sorted(indexes),
            "foreign_keys": sorted(foreign_keys),
        }
    return tables


def differences(expected: dict[str, dict], found: dict[str, dict]) -> list[str]:
    """One readable line per difference between two `schema_of` results."""
    lines = []
    for table in sorted(expected.keys() | found.keys()):
        if table not in found:
            lines.append(f"{table}: missing")
            continue
        if table not in expected:
            lines.append(f"{table}: not expected")
            continue
        want, have = expected[table], found[table]
        for column in sorted(want["columns"].keys() | have["columns"].keys()):
            a, b = want["columns"].get(column), have["columns"].get(column)
            if a != b:
                lines.append(f"{table}.{column}: expected {a}, found {b}")
        if want["primary_key"] != have["primary_key"]:
            lines.append(
                f"{table} primary key: expected {want['primary_key']}, found {have['primary_key']}"
            )
        for key in ("indexes", "foreign_keys"):
            for item in sorted(set(want[key]) - set(have[key])):
                lines.append(f"{table} {key}: missing {item}")
            for item in sorted(set(have[key]) - set(want[key])):
                lines.append(f"{table} {key}: not expected {item}")
    return lines


def _default(default: str | None) -> str | None:
    if default and re.match(r"nextval\(", default):
        return "autoincrement"  # SERIAL; the sequence's name does not matter
    return default


def _read_sqlite_catalogue(connection: sa.Connection, table: str, columns: dict) -> None:
    """What SQLAlchemy's SQLite inspector does not report: declared types, AUTOINCREMENT.

    It maps a declared type it does not know (Pony's `UUID`) to NUMERIC by affinity.
    """
    for row in connection.exec_driver_sql(f'PRAGMA table_info("{table}")'):
        columns[row.name]["type"] = row.type.upper()
    sql = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    match = re.search(r'"?(\w+)"?\s+INTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT', sql, re.I)
    if match:
        columns[match.group(1)]["default"] = "autoincrement"


def _sqlite_foreign_keys(connection: sa.Connection, table: str) -> set[tuple]:
    """From SQLite's own list: the inspector misses ON DELETE of inline REFERENCES."""
    keys: dict[int, dict] = {}
    pragma = connection.exec_driver_sql(f'PRAGMA foreign_key_list("{table}")')
    for number, _seq, parent, source, target, _on_update, on_delete, _match in pragma:
        key = keys.setdefault(number, {"from": [], "to": [], "table": parent, "on": on_delete})
        key["from"].append(source)
        key["to"].append(target)
    return {(tuple(k["from"]), k["table"], tuple(k["to"]), k["on"].upper()) for k in keys.values()}
