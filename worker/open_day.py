"""Open-day mail: once messages open, tell each user how many messages and how much money came."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from models import mails
from models.open_day import OpenDayNotice, claim_open_day_mails, mark_open_day_mails_queued
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
    Each mail is claimed in the database before it is sent, so runs that
    overlap, repeat or restart send it once.
    """
    opening = _instant(open_at) if open_at else config.messages_open_at
    now = _instant(as_of) if as_of else datetime.now(UTC)
    if opening is None or now < opening:
        return 0
    queued = 0
    while True:
        token = uuid.uuid4().hex
        with transaction():
            notices = claim_open_day_mails(opening, token, BATCH)
        # Committed: these mails are ours alone now.
        if not notices:
            return queued
        sent: list[int] = []
        try:
            for notice in notices:
                app.send_task("mail.send", kwargs=_mail(notice))
                sent.append(notice.claim_id)
        finally:
            # Those not marked (the broker failed) are taken over once their claim is stale.
            with transaction():
                mark_open_day_mails_queued(sent)
        queued += len(sent)
        log.info("open-day mail queued for %d users", len(sent))


def _mail(notice: OpenDayNotice) -> dict:
    page_url = f"{config.rabbit_frontend_url}/user/{notice.user_id}"
    mail = mails.open_day(notice.email, notice.username, notice.count, notice.amount, page_url)
    return mail.task_kwargs()


def _instant(raw: str) -> datetime:
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
