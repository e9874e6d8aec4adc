"""Mail tasks: every email leaves through the worker."""

from __future__ import annotations

from worker.celery import app, config
from worker.clients import smtp


@app.task(
    name="mail.send",
    acks_late=True,
    autoretry_for=(OSError, smtp.TransientMailError),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=8,
)
def send(to: str, subject: str, text: str) -> None:
    """Send one plain-text email (at least once: a retry after a lost ack may repeat it)."""
    smtp.deliver(smtp.compose(config.mail_from, to, subject, text), config)
