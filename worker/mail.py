"""Mail tasks: the worker sends what the mail outbox holds, and sweeps up what was not sent."""

from __future__ import annotations

from models import mail_outbox
from models.clock import utcnow
from models.transaction import transaction
from worker.celery import app, config, publish_batches
from worker.clients import smtp

# A due mail is the sweeper's once its own task has had this long to run.
SWEEP_GRACE = 20
SWEEP_BATCH = 1000
MAILS_PER_TASK = 10


@app.task(name=mail_outbox.DELIVER_TASK, bind=True, acks_late=True, max_retries=None)
def deliver(self, mail_ids: list[int]) -> None:
    """Idempotent: mails that are sent, not due, or held by another worker are left alone.

    Mails the server refused for now are tried again when due, by a retry of
    this task (the sweeper would send them too, a little later).
    """
    waits = {mail_id: wait for mail_id in mail_ids if (wait := send_one(mail_id)) is not None}
    if waits:
        raise self.retry(kwargs={"mail_ids": sorted(waits)}, countdown=max(waits.values()))


def send_one(mail_id: int) -> int | None:
    """Claim, send outside any transaction, mark it sent or schedule the next try (its wait)."""
    with transaction():
        claim = mail_outbox.claim(mail_id)
    if claim is None:
        return None
    message = smtp.compose(config.mail_from, claim.to, claim.subject, claim.text, claim.html)
    try:
        smtp.deliver(message, config)
    except (OSError, smtp.TransientMailError, smtp.PermanentMailError) as ex:
        permanent = isinstance(ex, smtp.PermanentMailError)
        with transaction():
            return mail_outbox.mark_failed(claim, f"{type(ex).__name__}: {ex}", permanent)
    with transaction():
        mail_outbox.mark_sent(claim)
    return None


@app.task(name="mail.sweep", acks_late=True)
def sweep(grace: float = SWEEP_GRACE) -> int:
    """Send tasks for the mails that are due and not in flight (lost, or waiting to retry)."""
    with transaction():
        due = mail_outbox.due_mails(utcnow(), grace, SWEEP_BATCH)
    return publish_batches(mail_outbox.DELIVER_TASK, "mail_ids", due, MAILS_PER_TASK)


@app.task(name="mail.send", acks_late=True)
def send(to: str, subject: str, text: str, html: str | None = None) -> None:
    """A mail queued by a release before the outbox existed: it joins the outbox."""
    with transaction():
        mail_outbox.queue_mail(to, subject, text, html)
