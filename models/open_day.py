"""Open-day mail: every user is told once, when messages open, what they received."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pony import orm
from pony.utils import datetime2timestamp

from models import db
from models.clock import to_naive_utc
from models.mail_outbox import queue_mail


class OpenDayMail(db.Entity):
    """One user's mail for one opening has been written to the mail outbox (once)."""

    _table_ = "open_day_mails"

    id = orm.PrimaryKey(int, auto=True)
    user = orm.Required("User", reverse="open_day_mails", column="user_id")
    open_at = orm.Required(datetime)
    orm.composite_key(user, open_at)


@dataclass(frozen=True)
class OpenDayNotice:
    """What one user's open-day mail says."""

    user_id: int
    email: str
    username: str
    count: int
    amount: int


# The subject, text and HTML (or None) of a notice's mail.
Render = Callable[[OpenDayNotice], tuple[str, str, str | None]]

# Users whose account and address existed at the opening and who were not told yet.
UNTOLD = """SELECT u.id, u.email, u.username,
  (SELECT COUNT(*) FROM messages m WHERE m.recipient_id = u.id),
  (SELECT COALESCE(SUM(m.amount), 0) FROM messages m WHERE m.recipient_id = u.id)
FROM users u
WHERE u.email_confirmed_at IS NOT NULL AND u.created_at <= $open_at
  AND NOT EXISTS (SELECT 1 FROM open_day_mails d WHERE d.user_id = u.id AND d.open_at = $open_at)
ORDER BY u.id LIMIT $limit"""


def queue_open_day_mails(open_at: datetime, limit: int, render: Render) -> int | None:
    """Write the mails of up to `limit` users not yet told of the opening at `open_at`.

    Returns how many were written, or None once nobody is left. Each user's row
    and mail are written together, in the caller's transaction: runs that
    overlap, repeat or die half-way mail each user once. (Of two runs at once,
    PostgreSQL makes the second wait on the first's new rows, then skip them.)
    """
    opening = to_naive_utc(open_at)
    params = {"open_at": _sql_time(opening), "limit": limit}
    untold = [
        OpenDayNotice(*row[:3], int(row[3]), int(row[4])) for row in db.select(UNTOLD, params)
    ]
    if not untold:
        return None
    written = 0
    for notice in untold:
        ours = db.execute(
            "INSERT INTO open_day_mails (user_id, open_at) VALUES ($user_id, $open_at)"
            " ON CONFLICT DO NOTHING",
            {"user_id": notice.user_id, "open_at": params["open_at"]},
        ).rowcount
        if ours:
            queue_mail(notice.email, *render(notice))
            written += 1
    return written


def _sql_time(value: datetime):
    """A naive UTC datetime for raw SQL, in the form Pony stores it (text on SQLite)."""
    return datetime2timestamp(value) if db.provider.dialect == "SQLite" else value
