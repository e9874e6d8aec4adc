"""Open-day mail: once messages open, tell each user how many messages and how much money came."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from models import mails
from models.open_day import OpenDayNotice, queue_open_day_mails
from models.transaction import transaction
from worker.celery import app, config

log = logging.getLogger(__name__)
BATCH = 100


@app.task(name="messages.open_day", acks_late=True)
def open_day(open_at: str | None = None, as_of: str | None = None) -> int:
    """Mail every user not yet told about the opening at `open_at`; returns how many were queued.

    Beat runs it every few minutes with no arguments: the opening is
    MESSAGES_OPEN_AT and the time is now. `open_at` and `as_of` (ISO 8601) let
    operations and tests name another opening or act as if it were another time.
    Each batch of users is marked told and their mails written to the mail
    outbox in one transaction, so runs that overlap, repeat or restart mail
    each user once.
    """
    opening = _instant(open_at) if open_at else config.messages_open_at
    now = _instant(as_of) if as_of else datetime.now(UTC)
    if opening is None or now < opening:
        return 0
    queued = 0
    while True:
        with transaction():
            written = queue_open_day_mails(opening, BATCH, _mail)
        if written is None:
            return queued
        queued += written
        log.info("open-day mail queued for %d users", written)


def _mail(notice: OpenDayNotice) -> tuple[str, str, str]:
    page_url = f"{config.rabbit_frontend_url}/user/{notice.user_id}"
    mail = mails.open_day(notice.email, notice.username, notice.count, notice.amount, page_url)
    return mail.subject, mail.text, mail.html


def _instant(raw: str) -> datetime:
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
