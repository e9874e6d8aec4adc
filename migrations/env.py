"""Alembic's entry point: migrates the runner's connection, or DATABASE_URL's for `alembic`."""

from alembic import context

from migrations.runner import create_engine, locked


def run_migrations(connection) -> None:
    context.configure(connection=connection)
    # The runner's transaction is already open: Alembic joins it and leaves the commit to it.
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    from settings import Config

    with locked(create_engine(Config.from_env().database_url)) as connection:
        run_migrations(connection)
