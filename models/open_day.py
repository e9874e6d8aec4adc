"""Open-day mail: every user is told once, when messages open, what they received."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pony import orm
from pony.utils import datetime2timestamp

from models import db
from models.clock import to_naive_utc, utcnow


class OpenDayMail(db.Entity):
    """One user's mail for one opening, claimed before it is sent so that it goes out once."""

    _table_ = "open_day_mails"

    id = orm.PrimaryKey(int, auto=True)
    user = orm.Required("User", reverse="open_day_mails", column="user_id")
    open_at = orm.Required(datetime)
    claim_token = orm.Optional(str, 32, nullable=True, index=True)
    claimed_at = orm.Optional(datetime)
    # Set once the mail task is with the broker; until then a stale claim is taken over.
    queued_at = orm.Optional(datetime)
    orm.composite_key(user, open_at)
    orm.composite_index(open_at, queued_at)


@dataclass(frozen=True)
class OpenDayNotice:
    """What one open-day mail says, and the claim it belongs to."""

    claim_id: int
    user_id: int
    email: str
    username: str
    count: int
    amount: int


# Each run claims rows in its own committed transaction before it hands the
# mails to the broker, so two runs at once never both send one mail; a claim
# whose run died before it was marked queued is taken over once stale.
CLAIM_TIMEOUT = timedelta(minutes=15)


def claim_open_day_mails(open_at: datetime, token: str, limit: int) -> list[OpenDayNotice]:
    """Claim up to `limit` unsent open-day mails for the opening at `open_at` (naive UTC)."""
    now = utcnow()
    params = {
        "open_at": _sql_time(to_naive_utc(open_at)),
        "token": token,
        "now": _sql_time(now),
        "stale": _sql_time(now - CLAIM_TIMEOUT),
        "limit": limit,
    }
    # Users whose account and address existed at the opening, not yet claimed. A
    # concurrent run inserting the same user loses on the unique key and skips it.
    db.execute(
        """
        INSERT INTO open_day_mails (user_id, open_at, claim_token, claimed_at)
        SELECT u.id, $open_at, $token, $now FROM users u
        WHERE u.email_confirmed_at IS NOT NULL AND u.created_at <= $open_at
          AND NOT EXISTS (
            SELECT 1 FROM open_day_mails d WHERE d.user_id = u.id AND d.open_at = $open_at
          )
        ORDER BY u.id LIMIT $limit
        ON CONFLICT DO NOTHING
        """,
        params,
    )
    # The conditions are repeated outside the subquery: PostgreSQL re-checks them
    # on a row another run has just claimed, and then leaves it alone.
    db.execute(
        """
        UPDATE open_day_mails SET claim_token = $token, claimed_at = $now
        WHERE id IN (
            SELECT id FROM open_day_mails
            WHERE open_at = $open_at AND queued_at IS NULL AND claimed_at < $stale
            ORDER BY id LIMIT $limit
          )
          AND queued_at IS NULL AND claimed_at < $stale
        """,
        params,
    )
    rows = db.select(
        """SELECT d.id, u.id, u.email, u.username,
          (SELECT COUNT(*) FROM messages m WHERE m.recipient_id = u.id),
          (SELECT COALESCE(SUM(m.amount), 0) FROM messages m WHERE m.recipient_id = u.id)
        FROM open_day_mails d JOIN users u ON u.id = d.user_id
        WHERE d.claim_token = $token
        ORDER BY d.id
        """,
        {"token": token},
    )
    return [OpenDayNotice(*row[:4], int(row[4]), int(row[5])) for row in rows]


def mark_open_day_mails_queued(claim_ids: list[int]) -> None:
    now = utcnow()
    for mail in OpenDayMail.select(lambda d: d.id in claim_ids):
        mail.queued_at = now


def _sql_time(value: datetime):
    """A naive UTC datetime for raw SQL, in the form Pony stores it (text on SQLite)."""
    return datetime2timestamp(value) if db.provider.dialect == "SQLite" else value
