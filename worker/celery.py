"""The Celery app, configured from celeryconfig.py; binds the database in each process."""

from __future__ import annotations

from celery import Celery, signals

from models import init_db, tasks
from settings import Config

app = Celery("zellyy")
app.config_from_object("celeryconfig")
config = Config.from_env()


def publish(name: str, kwargs: dict) -> None:
    """Send task `name` to the broker: the publisher every process registers with models.tasks."""
    app.send_task(name, kwargs=kwargs)


@signals.worker_process_init.connect
@signals.worker_init.connect
@signals.beat_init.connect
def _start_process(**_kwargs) -> None:
    # Idempotent; a prefork child rebinds nothing but opens its own connections.
    init_db(config.database_url)
    tasks.set_publisher(publish)
