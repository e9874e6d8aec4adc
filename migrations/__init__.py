"""Versioned schema migrations: Alembic, written by hand (the entities are Pony's).

`python -m api.cli migrate` (the release process) applies what is pending; see
runner.py. Pony only maps tables; it never creates or alters them outside tests.

To change the schema:

1. Change the entity in models/.
2. `.venv/bin/alembic revision --rev-id 0002_short_name -m "what and why"` writes
   migrations/versions/0002_short_name.py (ids are numbered: 0002, 0003, ...).
3. Write `upgrade()` with `op.add_column`, `op.create_table`, `op.create_index`, ...
   so that the result is exactly what Pony's create_tables makes for the changed
   entity on both engines: the same column types (see `0001_baseline.<engine>.sql`
   for how Pony spells them), nullability, index and foreign key names, and
   `ON DELETE` rules. Where the engines differ, branch on
   `op.get_bind().dialect.name`. Fill new NOT NULL columns of existing rows in the
   same migration.
4. Run tests/test_migrations.py on both engines: it fails, naming the difference,
   until the migrated schema equals the entities' and every row of the previous
   release survives. Add rows for new tables to its data set.

SQLite cannot alter columns in place; `op.batch_alter_table` recreates the table
from reflection, which loses what SQLite does not report back (the declared `UUID`
type, `ON DELETE` of inline references, `AUTOINCREMENT`): write the new table
yourself there. The drift test catches what is lost.
"""
