"""Each task goes to its domain's queue, and a worker started without -Q consumes them all."""

from __future__ import annotations

from settings import QUEUE_DOMAINS


def test_every_task_is_routed_to_its_domains_queue(config):
    from worker.celery import app

    app.loader.import_default_modules()
    ours = sorted(name for name in app.tasks if not name.startswith("celery."))
    routed = {name: app.amqp.router.route({}, name)["queue"].name for name in ours}
    assert routed == {
        "billing.renewals": config.queue("billing"),
        "mail.deliver": config.queue("mail"),
        "mail.send": config.queue("mail"),
        "mail.sweep": config.queue("periodic"),
        "messages.open_day": config.queue("periodic"),
        "idempotency.purge": config.queue("periodic"),
        "social.share": config.queue("social"),
        "social.sweep": config.queue("periodic"),
        "social.token_care": config.queue("social"),
        "webhooks.deliver": config.queue("webhooks"),
        "webhooks.send_due": config.queue("webhooks"),
        "webhooks.sweep": config.queue("periodic"),
    }


def test_a_worker_consumes_every_domains_queue_named_for_its_run(config):
    from worker.celery import app

    assert config.queue_prefix  # runs sharing one Redis do not take each other's tasks
    consumed = {queue.name for queue in app.amqp.queues.values()}
    assert consumed == {config.queue_prefix + domain for domain in QUEUE_DOMAINS}
