"""The mail outbox: every mail is a row written in the transaction that causes it.

The worker claims a mail on a lease (a conditional UPDATE: of two workers handed
the same mail, one gets it), sends it outside any transaction, and marks it sent
or schedules the next try. A mail whose task was lost (broker down at commit, a
worker killed) is sent again by the sweeper once due (models.outbox.due). A mail
goes out once, unless a worker dies between the mail server's answer and the mark.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pony import orm

from models import db, outbox
from models.clock import utcnow
from models.tasks import send_after_commit

DELIVER_TASK = "mail.deliver"
PENDING, SENT, FAILED = outbox.PENDING, "sent", "failed"
# Longer than any one sending can take (each SMTP step times out after 15 s): only a
# worker that died lets a lease run out, and then the sweeper hands the mail on.
LEASE_SECONDS = 180
# A mail the server refuses for now waits 30 s, 1 min, 2 min … 10 min between tries.
RETRY_BASE, RETRY_MAX_WAIT, MAX_ATTEMPTS = 30, 600, 8


class OutboxMail(db.Entity):
    """One mail to one address: text, and an HTML alternative when there is one."""

    _table_ = "mail_outbox"

    id = orm.PrimaryKey(int, auto=True)
    recipient = orm.Required(str)
    subject = orm.Required(str)
    text = orm.Required(str)
    html = orm.Optional(str, nullable=True)
    status = orm.Required(str, 16, default=PENDING)
    # When the next try is due; None once sent or given up.
    next_attempt_at = orm.Optional(datetime)
    # The lease of the worker sending it now: no other claims it before locked_until.
    locked_until = orm.Optional(datetime)
    lease_token = orm.Optional(str, 32, nullable=True)
    attempt_count = orm.Required(int, default=0)
    last_error = orm.Optional(str, 500, nullable=True)
    created_at = orm.Required(datetime, default=utcnow)
    sent_at = orm.Optional(datetime)
    orm.composite_index(status, next_attempt_at)  # the sweeper's question


@dataclass(frozen=True)
class Claim:
    """A mail a worker holds the lease of, as plain values."""

    mail_id: int
    lease_token: str
    to: str
    subject: str
    text: str
    html: str | None
    attempt: int


def queue_mail(to: str, subject: str, text: str, html: str | None = None) -> OutboxMail:
    """Send a mail once the current transaction commits; never if it rolls back."""
    mail = OutboxMail(recipient=to, subject=subject, text=text, html=html, next_attempt_at=utcnow())
    orm.flush()  # the id the task carries
    send_after_commit(DELIVER_TASK, mail_ids=[mail.id])
    return mail


def claim(mail_id: int) -> Claim | None:
    """Take the lease on a mail that is due, unsent and not held; None if another has it."""
    now = utcnow()
    token = secrets.token_hex(16)
    won = db.execute(
        "UPDATE mail_outbox"
        " SET locked_until = $until, lease_token = $token, attempt_count = attempt_count + 1"
        " WHERE id = $mail_id AND status = 'pending' AND next_attempt_at <= $now"
        " AND (locked_until IS NULL OR locked_until <= $now)",
        {
            "until": now + timedelta(seconds=LEASE_SECONDS),
            "token": token,
            "now": now,
            "mail_id": mail_id,
        },
    ).rowcount
    if won != 1:
        return None
    mail = OutboxMail[mail_id]
    return Claim(
        mail.id, token, mail.recipient, mail.subject, mail.text, mail.html, mail.attempt_count
    )


# What a sent mail keeps of its body: mails carry live links (password resets, for an
# hour), which the database has no reason to hold once they are out.
SENT_BODY = "(sent; the body is not kept)"


def mark_sent(claim: Claim) -> None:
    _release(
        claim,
        status=SENT,
        sent_at=utcnow(),
        next_attempt_at=None,
        last_error=None,
        text=SENT_BODY,
        html=None,
    )


def mark_failed(claim: Claim, error: str, permanent: bool) -> int | None:
    """A try that failed: returns the seconds until the next, or None if there is none
    (it never can succeed, or the tries ran out)."""
    if permanent or claim.attempt >= MAX_ATTEMPTS:
        _release(claim, status=FAILED, next_attempt_at=None, last_error=error[:500])
        return None
    wait = min(RETRY_BASE * 2 ** (claim.attempt - 1), RETRY_MAX_WAIT)
    _release(claim, next_attempt_at=utcnow() + timedelta(seconds=wait), last_error=error[:500])
    return wait


def _release(claim: Claim, **changes) -> None:
    # Only while the lease is still ours: a mail handed on after a lease ran out is
    # the new holder's to mark.
    mail = OutboxMail.get(id=claim.mail_id, lease_token=claim.lease_token)
    if mail is not None:
        mail.set(locked_until=None, lease_token=None, **changes)


def due_mails(now: datetime, grace: float, limit: int) -> list[int]:
    """Mails due for `grace` seconds that no live lease holds, oldest first."""
    return outbox.due(OutboxMail, now, grace, limit)


def unsent_count() -> int:
    """Mails not sent yet and not given up: a backlog that grows while mail is failing."""
    return OutboxMail.select(lambda m: m.status == PENDING).count()
