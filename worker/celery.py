"""The Celery app, configured from celeryconfig.py; binds the database in each process."""

from __future__ import annotations

from celery import Celery, signals

from models import init_db
from settings import Config
from worker import observability  # noqa: F401 - connects the request id, task log and metrics signals

app = Celery("zellyy")
app.config_from_object("celeryconfig")
config = Config.from_env()


@signals.worker_process_init.connect
@signals.worker_init.connect
@signals.beat_init.connect
def _bind_database(**_kwargs) -> None:
    # Idempotent; a prefork child rebinds nothing but opens its own connections.
    init_db(config.database_url)
