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
def send(to: str, subject: str, text: str, html: str | None = None) -> None:
    """Send one email, text with an HTML alternative when there is one.

    At least once: a retry after a lost ack may repeat it. `html` may be
    missing from tasks queued by an older web process.
    """
    smtp.deliver(smtp.compose(config.mail_from, to, subject, text, html), config)
