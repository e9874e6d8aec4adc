"""A card shared to a social platform: one row per attempt to post it, and its outcome."""

from __future__ import annotations

import uuid
from datetime import datetime

from pony import orm

from models import db
from models.clock import rfc3339, utcnow

SHARE_STATUSES = ("pending", "success", "failed")


class Share(db.Entity):
    _table_ = "shares"

    id = orm.PrimaryKey(uuid.UUID, default=uuid.uuid4)
    card = orm.Required("Card")
    platform = orm.Required(str, 32)
    status = orm.Required(str, 16, default="pending", py_check=lambda s: s in SHARE_STATUSES)
    message = orm.Optional(str, 2000, nullable=True, autostrip=False)
    share_url = orm.Optional(str, 2048, nullable=True)
    shared_at = orm.Optional(datetime)
    error = orm.Optional(str, 255, nullable=True)
    created_at = orm.Required(datetime, default=utcnow)
    # Kept by the worker (models/social.py): posting attempts so far, the
    # platform's id of the post, and when a post request went out whose answer
    # is not recorded yet (a run that finds it set never posts again).
    attempts = orm.Required(int, default=0)
    platform_post_id = orm.Optional(str, 255, nullable=True)
    post_started_at = orm.Optional(datetime)
    # When the worker should take the pending share up (new, waiting to retry, or the
    # end of the lease of a post going out); None once settled. The sweeper's question,
    # a partial index as the migration makes it (WHERE status = 'pending').
    next_attempt_at = orm.Optional(datetime, index=True)
    # A card's successful shares are counted on every detail read.
    orm.composite_index(card, status)

    def to_dict(self) -> dict:
        """The share as the seed's 카드 소셜 공유 response shows it."""
        return {
            "id": str(self.id),
            "card_id": str(self.card.public_id),
            "platform": self.platform,
            "status": self.status,
            "share_url": self.share_url,
            "shared_at": rfc3339(self.shared_at),
        }


def successful_shares(card) -> tuple[int, list[str]]:
    """How many times the card was shared successfully, and to which platforms (one query)."""
    rows = orm.select(
        (s.platform, orm.count(s)) for s in Share if s.card == card and s.status == "success"
    )[:]
    return sum(n for _, n in rows), sorted(platform for platform, _ in rows)
