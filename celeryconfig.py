"""Celery settings, from the same environment as the web process."""

import os

from settings import Config

_config = Config.from_env()

broker_url = _config.broker_url
if broker_url == "filesystem://":
    # Embedded mode: messages are files under ./var/broker/, which producer and
    # consumer share, so in and out are the same folder.
    _folder = str(_config.var_dir / "broker")
    os.makedirs(_folder, exist_ok=True)
    broker_transport_options = {
        "data_folder_in": _folder,
        "data_folder_out": _folder,
        "control_folder": str(_config.var_dir / "broker-control"),
    }
else:
    # Longer than any countdown we schedule (those stay under a few minutes; long
    # waits live in the database as next_attempt_at), so Redis never redelivers
    # a task that is merely waiting.
    broker_transport_options = {"visibility_timeout": 3600}

imports = (
    "worker.mail",
    "worker.open_day",
    "worker.webhooks",
    "worker.social",
    "worker.billing",
    "worker.idempotency",
)
task_default_queue = _config.task_queue
task_ignore_result = True  # nothing reads results; the database holds outcomes
task_serializer = "json"
accept_content = ("json",)
# Late acks: a task whose worker dies mid-run is delivered again; our tasks are
# idempotent so that this is safe.
task_acks_late = True
task_reject_on_worker_lost = True
# One message at a time per process: long tasks do not hold others hostage.
worker_prefetch_multiplier = 1
worker_hijack_root_logger = False
broker_connection_retry_on_startup = True
timezone = "UTC"
beat_schedule_filename = str(_config.var_dir / "celerybeat-schedule")
beat_schedule: dict = {
    # Refreshes X tokens and flags other accounts whose tokens expire within a
    # day; X access tokens live two hours, so it runs well inside that.
    "social-token-care": {
        "task": "social.token_care",
        "schedule": 1800.0,
        "options": {"expires": 1800},
    },
    # Re-sends webhook deliveries that are due but have no live task: lost to a
    # broker outage or a dead worker, or waiting longer than a countdown may.
    "webhooks-sweep": {
        "task": "webhooks.sweep",
        "schedule": 30.0,
        "options": {"expires": 30},
    },
    # Does nothing until MESSAGES_OPEN_AT; after it, mails each user once. A run
    # not started within its period is dropped: the next one does the same work.
    "messages-open-day": {
        "task": "messages.open_day",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
    # Charges subscriptions ending within the hour and retries past-due ones.
    # Overlapping or repeated runs are safe: a period is charged once.
    "billing-renewals": {
        "task": "billing.renewals",
        "schedule": 600.0,
        "options": {"expires": 600},
    },
    # Deletes idempotency keys older than 24 hours. Often, so that each run deletes
    # only a few minutes' worth; requests already ignore expired keys on their own.
    "idempotency-purge": {
        "task": "idempotency.purge",
        "schedule": 600.0,
        "options": {"expires": 600},
    },
}
