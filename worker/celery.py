"""The Celery app, configured from celeryconfig.py; binds the database in each process."""

from __future__ import annotations

import time

from celery import Celery, Task, signals

from models import connection_lost, init_db, tasks
from startup import config_or_exit, services_or_exit
from worker import observability  # noqa: F401 - connects the request id, task log and metrics signals

# A task that lost its database connection runs again after 1, 2, 4 … 30 s (about 3 minutes).
DB_RETRIES = 10
DB_RETRY_MAX_WAIT = 30


class DatabaseTask(Task):
    """Every task: when its database connection is lost, it runs again after a short pause.

    Nothing of the lost transaction was kept, and tasks are written to run more
    than once (they are acknowledged late), so running again is safe.
    """

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except Exception as ex:
            if not connection_lost(ex):
                raise
            wait = min(2**self.request.retries, DB_RETRY_MAX_WAIT)
            raise self.retry(exc=ex, countdown=wait, max_retries=DB_RETRIES) from ex


app = Celery("zellyy", task_cls=DatabaseTask)
app.config_from_object("celeryconfig")
# Read when `celery --app worker.celery` loads this module: bad settings end the
# command with one line per problem instead of Celery's traceback.
config = config_or_exit()


# After a failed publish, this process does not wait for the broker again for so long.
BROKER_PAUSE = 5.0
_broker_failed_at = -BROKER_PAUSE


class BrokerPaused(Exception):
    """The broker failed moments ago: not tried again yet."""


def publish(name: str, kwargs: dict, **options) -> None:
    """Send task `name` to the broker: the publisher every process registers with models.tasks.

    One try, bounded by the broker's socket timeouts (celeryconfig): a broker that
    is down fails it within REDIS_TIMEOUT instead of holding the caller, and for
    BROKER_PAUSE seconds after that the publishes of this process fail at once.
    What they carried is in the database, and the sweepers send it once the
    broker is back.
    """
    global _broker_failed_at
    if time.monotonic() - _broker_failed_at < BROKER_PAUSE:
        raise BrokerPaused(
            f"task {name} not sent: the broker failed {BROKER_PAUSE:g} s ago or less"
        )
    try:
        app.send_task(name, kwargs=kwargs, retry=False, **options)
    except Exception:
        _broker_failed_at = time.monotonic()
        raise


def publish_batches(name: str, key: str, ids: list[int], size: int) -> int:
    """Publish task `name` for `ids`, `size` at a time as its argument `key`; a sweeper's
    send. Stops at the first failure: the next sweep sends the rest."""
    for start in range(0, len(ids), size):
        publish(name, {key: ids[start : start + size]})
    return len(ids)


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
