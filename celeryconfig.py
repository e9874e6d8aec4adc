"""Celery settings, from the same environment as the web process."""

import os

from kombu import Exchange, Queue

from settings import QUEUE_DOMAINS, Config

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
    # One schedule file, for the one beat embedded mode runs.
    beat_schedule_filename = str(_config.var_dir / "celerybeat-schedule")
else:
    # kombu's Redis transport, keeping one client for its bookkeeping of the
    # messages not yet acknowledged instead of making one per message.
    broker_transport = "worker.broker:Transport"
    broker_transport_options = {
        # Longer than any countdown we schedule (those stay under a few minutes; long
        # waits live in the database as next_attempt_at), so Redis never redelivers
        # a task that is merely waiting.
        "visibility_timeout": 3600,
        # A publish waits for a stopped or frozen Redis this long, once, then fails:
        # what it carried is in the database, and the sweepers send it later.
        "socket_timeout": _config.redis_timeout,
        "socket_connect_timeout": _config.redis_timeout,
        "max_retries": 0,  # kombu would otherwise retry connecting for 4 s
    }
    # The schedule and a lock live in Redis: of all the beat processes started, the
    # one holding the lock runs the schedule; the others wait for it, and one takes
    # over within redbeat_lock_timeout when the holder dies (worker/beat.py).
    beat_scheduler = "worker.beat:Scheduler"
    redbeat_redis_url = _config.redis_url
    redbeat_key_prefix = _config.redbeat_key_prefix
    # A waiting beat tries for the lock, and the holder renews it, this often.
    beat_max_loop_interval = 5 * _config.beat_scale
    redbeat_lock_timeout = 25 * _config.beat_scale
    redbeat_redis_options = _config.redis_options  # bounded like every Redis call

imports = (
    "worker.mail",
    "worker.open_day",
    "worker.webhooks",
    "worker.social",
    "worker.billing",
    "worker.idempotency",
)

# A queue per domain, so that a backlog in one (a receiver that never answers, a
# slow SMTP server) never makes another wait its turn. A worker started without
# -Q consumes them all (the Procfile's one `worker`); a busy deploy runs a worker
# of its own for the webhooks queue (README, "Workers"). CELERY_QUEUE_PREFIX keeps
# test runs that share one Redis apart.
task_queues = [
    Queue(name, Exchange(name), routing_key=name)
    for name in (_config.queue(domain) for domain in QUEUE_DOMAINS)
]
task_routes = {
    # Deliveries: many receivers, some slow or down; their own worker when they grow.
    "webhooks.*": {"queue": _config.queue("webhooks")},
    "mail.*": {"queue": _config.queue("mail")},
    # Posting to the platforms, and the token care that talks to X.
    "social.*": {"queue": _config.queue("social")},
    # Renewals charge cards through Stripe: a slow Stripe holds up only billing.
    "billing.*": {"queue": _config.queue("billing")},
    # Beat's jobs that only read the database and hand work to the queues above:
    # they must run on time even when a domain's queue is long.
    "webhooks.sweep": {"queue": _config.queue("periodic")},
    "mail.sweep": {"queue": _config.queue("periodic")},
    "social.sweep": {"queue": _config.queue("periodic")},
    "messages.open_day": {"queue": _config.queue("periodic")},
    "idempotency.*": {"queue": _config.queue("periodic")},
}
# Nothing should fall through to it: tests check that every task has a route.
task_default_queue = _config.queue("periodic")
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


def _every(seconds: float) -> dict:
    """Run every `seconds` (times BEAT_SCALE); a run not started within its period is
    dropped: the next one does the same work."""
    period = seconds * _config.beat_scale
    return {"schedule": period, "options": {"expires": period}}


beat_schedule: dict = {
    # Refreshes X tokens and flags other accounts whose tokens expire within a
    # day; X access tokens live two hours, so it runs well inside that.
    "social-token-care": {"task": "social.token_care", **_every(1800)},
    # Re-send webhook deliveries, mails and shares that are due but have no live task:
    # lost to a broker outage or a dead worker, or waiting longer than a countdown may.
    "webhooks-sweep": {"task": "webhooks.sweep", **_every(30)},
    "mail-sweep": {"task": "mail.sweep", **_every(30)},
    "social-sweep": {"task": "social.sweep", **_every(30)},
    # Does nothing until MESSAGES_OPEN_AT; after it, mails each user once.
    "messages-open-day": {"task": "messages.open_day", **_every(300)},
    # Charges subscriptions ending within the hour and retries past-due ones.
    # Overlapping or repeated runs are safe: a period is charged once.
    "billing-renewals": {"task": "billing.renewals", **_every(600)},
    # Deletes idempotency keys older than 24 hours. Often, so that each run deletes
    # only a few minutes' worth; requests already ignore expired keys on their own.
    "idempotency-purge": {"task": "idempotency.purge", **_every(600)},
}
