"""Zellyy cards and their tags: creating, listing, changing and deleting them, owner only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from pony import orm

from models import db, premium
from models.clock import rfc3339, utcnow
from models.errors import NotFound, PermissionDenied
from models.shares import successful_shares

# What a card looks like when the client leaves a style field out.
STYLE_DEFAULTS = {
    "background_color": "#FFFFFF",
    "text_color": "#000000",
    "font_family": "system",
    "font_size": 16,
    "text_align": "center",
    "is_public": False,
}
FIELDS = ("content", *STYLE_DEFAULTS)
TEXT_ALIGNS = ("left", "center", "right")
SORT_KEYS = ("created_at", "updated_at")
ORDERS = ("asc", "desc")
MAX_TAGS = 10
MAX_TAG_LENGTH = 30


class Card(db.Entity):
    _table_ = "cards"

    # The integer key orders cards by creation; clients only ever see public_id.
    id = orm.PrimaryKey(int, auto=True)
    public_id = orm.Required(uuid.UUID, unique=True, default=uuid.uuid4)
    owner = orm.Required("User")
    content = orm.Required(str, 2000, autostrip=False)
    background_color = orm.Required(str, 7)
    text_color = orm.Required(str, 7)
    font_family = orm.Required(str, 50)
    font_size = orm.Required(int)
    text_align = orm.Required(str, 6)
    is_public = orm.Required(bool, default=False)
    created_at = orm.Required(datetime, default=utcnow)
    updated_at = orm.Required(datetime, default=utcnow)
    tags = orm.Set("CardTag", cascade_delete=True)
    shares = orm.Set("Share", cascade_delete=True)
    # One index per listing order; the id makes ties follow creation order.
    orm.composite_index(owner, created_at, id)
    orm.composite_index(owner, updated_at, id)

    def to_dict(self, *, is_synced: bool, tags: list[str] | None = None) -> dict:
        """The card as the seed shows it; `tags` saves a query when the caller has them."""
        return {
            "id": str(self.public_id),
            "content": self.content,
            "background_color": self.background_color,
            "text_color": self.text_color,
            "font_family": self.font_family,
            "font_size": self.font_size,
            "text_align": self.text_align,
            "is_public": self.is_public,
            "is_synced": is_synced,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
            "tags": self.tag_names() if tags is None else tags,
        }

    def tag_names(self) -> list[str]:
        return _tags_by_card([self.id]).get(self.id, [])


class CardTag(db.Entity):
    """One tag of one card: a row per tag, so that filtering by tag uses an index."""

    _table_ = "card_tags"

    card = orm.Required(Card)
    tag = orm.Required(str, MAX_TAG_LENGTH, autostrip=False)
    position = orm.Required(int)
    orm.PrimaryKey(card, tag)
    orm.composite_index(tag, card)


class CardCount(db.Entity):
    """How many cards a user holds, kept beside the cards.

    It answers the listing's total without counting every row, and its row is
    the lock that makes two concurrent creates respect the free limit. Rows loaded
    behind create_card's back (bulk imports) need their counter set, or deleted so
    that the next create counts afresh.
    """

    _table_ = "card_counts"

    owner = orm.PrimaryKey("User")
    cards = orm.Required(int, default=0)


@dataclass(frozen=True)
class CardPage:
    items: list[dict]
    total: int
    page: int
    limit: int


def is_synced(owner) -> bool:
    """Cloud sync is a premium feature: every card of a premium user is synced."""
    return premium.premium_until(owner) is not None


def create_card(owner, fields: dict, *, free_limit: int) -> Card:
    """A new card with the style defaults for what `fields` leaves out."""
    held = _lock_count(owner)
    if held >= free_limit and not is_synced(owner):
        raise PermissionDenied(
            f"Free accounts can hold up to {free_limit} cards; premium removes the limit",
            details={"limit": free_limit},
            key="card_limit",
        )
    now = utcnow()
    card = Card(owner=owner, created_at=now, updated_at=now, **_values(STYLE_DEFAULTS | fields))
    _replace_tags(card, fields.get("tags", []), new=True)
    _add_count(owner, 1)
    return card


def get_card(owner, card_id: str, *, for_update: bool = False) -> Card:
    """The owner's card with this public id; anyone else's, or a malformed id, is NotFound."""
    try:
        public_id = uuid.UUID(card_id)
    except (ValueError, TypeError):
        raise NotFound("Card not found", key="card") from None
    get = Card.get_for_update if for_update else Card.get
    card = get(public_id=public_id)
    if card is None or card.owner != owner:
        raise NotFound("Card not found", key="card")
    return card


def update_card(owner, card_id: str, fields: dict) -> Card:
    # The row lock makes concurrent edits wait their turn instead of failing.
    card = get_card(owner, card_id, for_update=True)
    values = _values(fields)
    if not values and "tags" not in fields:
        return card
    card.set(**values, updated_at=utcnow())
    if "tags" in fields:
        _replace_tags(card, fields["tags"])
    return card


def delete_card(owner, card_id: str) -> None:
    _lock_count(owner)
    # Read after taking the lock: a concurrent delete of the same card has committed by now.
    card = get_card(owner, card_id)
    card.delete()
    _add_count(owner, -1)


def card_detail(card: Card, *, is_synced: bool) -> dict:
    """The card with its successful shares, as GET /cards/{id} shows it."""
    share_count, platforms = successful_shares(card)
    return {
        **card.to_dict(is_synced=is_synced),
        "share_count": share_count,
        "share_platforms": platforms,
    }


def list_cards(
    owner,
    *,
    page: int = 1,
    limit: int = 20,
    sort: str = "created_at",
    order: str = "desc",
    tag: str | None = None,
    search: str | None = None,
) -> CardPage:
    """One page of the owner's cards; only that page's rows are loaded.

    `owner` needs only an `id` (the User or the request's models.caller.Caller).
    """
    if sort not in SORT_KEYS or order not in ORDERS:
        raise ValueError("unknown sort or order")
    owner_id = owner.id
    query = Card.select(lambda c: c.owner.id == owner_id)
    if tag is not None:
        tag = tag.strip()  # stored tags are trimmed
        query = query.where(
            lambda c: orm.exists(t for t in CardTag if t.card == c and t.tag == tag)
        )
    if search is not None:
        # Pony escapes % and _ in a parameter used with `in`: they match themselves.
        needle = search.lower()
        query = query.where(lambda c: needle in c.content.lower())
    total = query.count() if tag is not None or search is not None else card_count(owner)
    offset = (page - 1) * limit
    if offset >= total:
        return CardPage([], total, page, limit)
    key = getattr(Card, sort)
    if order == "desc":
        query = query.order_by(orm.desc(key), orm.desc(Card.id))
    else:
        query = query.order_by(key, Card.id)
    cards = query[offset : offset + limit]
    tags = _tags_by_card([c.id for c in cards])
    synced = is_synced(owner)
    items = [c.to_dict(is_synced=synced, tags=tags.get(c.id, [])) for c in cards]
    return CardPage(items, total, page, limit)


def card_count(owner) -> int:
    """How many cards the owner holds, read from the counter row."""
    rows = db.select("SELECT cards FROM card_counts WHERE owner = $owner", {}, {"owner": owner.id})
    if rows:
        return rows[0]
    owner_id = owner.id
    return Card.select(lambda c: c.owner.id == owner_id).count()


# The counter is read and written with plain SQL: Pony's cache of the User <-> CardCount
# relation would not notice a row that appears in the middle of a session.
def _lock_count(owner) -> int:
    """Lock the owner's counter row until commit and return it; created from a real count."""
    params = {"owner": owner.id}
    # An UPDATE that changes nothing still takes the row's lock (on SQLite, the write lock).
    lock = "UPDATE card_counts SET cards = cards WHERE owner = $owner"
    if db.execute(lock, {}, params).rowcount == 0:
        # Two first cards at once: one insert wins, the other does nothing and then
        # waits on the winner's lock.
        db.execute(
            "INSERT INTO card_counts (owner, cards)"
            " SELECT $owner, COUNT(*) FROM cards WHERE owner = $owner"
            " ON CONFLICT DO NOTHING",
            {},
            params,
        )
        db.execute(lock, {}, params)
    return db.select("SELECT cards FROM card_counts WHERE owner = $owner", {}, params)[0]


def _add_count(owner, delta: int) -> None:
    db.execute(
        "UPDATE card_counts SET cards = cards + $delta WHERE owner = $owner",
        {},
        {"owner": owner.id, "delta": delta},
    )


def _values(fields: dict) -> dict:
    values = {name: fields[name] for name in FIELDS if name in fields}
    for name in ("background_color", "text_color"):
        if name in values:
            values[name] = values[name].upper()
    if "font_size" in values:
        values["font_size"] = int(values["font_size"])
    return values


def _replace_tags(card: Card, tags: list[str], *, new: bool = False) -> None:
    """Make the card's tags exactly `tags` (trimmed, first occurrence kept, in order)."""
    wanted: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if tag and tag not in wanted:
            wanted.append(tag)
    current = {} if new else {t.tag: t for t in CardTag.select(lambda t: t.card == card)}
    for name, row in current.items():
        if name not in wanted:
            row.delete()
    for position, name in enumerate(wanted):
        if name in current:
            current[name].position = position
        else:
            CardTag(card=card, tag=name, position=position)


def _tags_by_card(card_ids: list[int]) -> dict[int, list[str]]:
    """Tags of several cards in one query, each card's in its own order."""
    if not card_ids:
        return {}
    rows = orm.select(
        (t.card.id, t.position, t.tag) for t in CardTag if t.card.id in card_ids
    ).order_by(1, 2)[:]
    tags: dict[int, list[str]] = {}
    for card_id, _position, name in rows:
        tags.setdefault(card_id, []).append(name)
    return tags
