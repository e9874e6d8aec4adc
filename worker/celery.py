"""The Celery app, configured from celeryconfig.py; binds the database in each process."""

from __future__ import annotations

from celery import Celery, signals

from models import init_db, tasks
from startup import config_or_exit, services_or_exit

app = Celery("zellyy")
app.config_from_object("celeryconfig")
# Read when `celery --app worker.celery` loads this module: bad settings end the
# command with one line per problem instead of Celery's traceback.
config = config_or_exit()


def publish(name: str, kwargs: dict) -> None:
    """Send task `name` to the broker: the publisher every process registers with models.tasks."""
    app.send_task(name, kwargs=kwargs)


@signals.worker_process_init.connect
def _start_process(**_kwargs) -> None:
    # Idempotent; a prefork child rebinds nothing but opens its own connections.
    init_db(config.database_url)
    tasks.set_publisher(publish)


@signals.worker_init.connect
@signals.beat_init.connect
def _check_services_then_start(**_kwargs) -> None:
    # Without this the worker would retry a dead broker forever and fail on the
    # database only at its first task; SystemExit passes through Celery's signal.
    services_or_exit(config)
    _start_process()
