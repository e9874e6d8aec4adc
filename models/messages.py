"""Money For Rabbit messages: the money rules, kept totals, the opening date, withdrawal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from pony import orm

from models import db, select_rows
from models.clock import utcnow
from models.errors import InvalidInput, NotFound

# Without a money bag a message carries one banknote or coin of these values.
MONEY_UNITS = (100, 500, 1000, 5000, 10000, 50000, 99999)
MONEYBAG_IMAGE_AMOUNT = 99999
# A money bag holds any whole amount in this range (won).
MONEYBAG_MIN, MONEYBAG_MAX = 1, 1_000_000
PAGE_SIZE = 6
KST = timezone(timedelta(hours=9), "KST")

NOT_MONEY_UNIT = "화폐단위에 벗어난 액수를 선택하려면 돈봉투를 사용하세요."
MONEYBAG_RANGE = f"돈봉투에는 {MONEYBAG_MIN:,}원부터 {MONEYBAG_MAX:,}원까지 담을 수 있습니다."
MESSAGE_NOT_FOUND = "쪽지를 찾을 수 없습니다."


class Message(db.Entity):
    """A New-Year message left on a user's page, with money."""

    _table_ = "messages"

    id = orm.PrimaryKey(int, auto=True)
    recipient = orm.Required("User", reverse="received_messages", column="recipient_id")
    # A withdrawing author's messages go with them (release_user); the column is
    # nullable only because it was before (migration 0002 removed the NULL rows).
    author = orm.Optional("User", reverse="authored_messages", column="author_id")
    message = orm.Required(str, 150)
    amount = orm.Required(int)
    is_moneybag = orm.Required(bool, default=False)
    created_at = orm.Required(datetime, default=utcnow)
    orm.composite_index(recipient, id)
    orm.composite_index(recipient, created_at)

    @property
    def image_name(self) -> str:
        amount = MONEYBAG_IMAGE_AMOUNT if self.is_moneybag else self.amount
        return f"Money_{amount}.png"

    def to_dict(self) -> dict:
        return _as_dict(self.id, self.message, self.amount, self.is_moneybag, self.author.username)


def _as_dict(message_id: int, text: str, amount: int, is_moneybag: bool, author: str) -> dict:
    is_moneybag = bool(is_moneybag)  # SQLite answers raw SQL with 0 or 1
    return {
        "id": message_id,
        "message": text,
        "amount": amount,
        "is_moneybag": is_moneybag,
        "image_name": f"Money_{MONEYBAG_IMAGE_AMOUNT if is_moneybag else amount}.png",
        "author_name": author,
    }


class MessageTotals(db.Entity):
    """How many messages a user received and how much money, kept beside the messages.

    Written in the same transaction as each message (write), so that the list and
    the profile read one row instead of counting every message. A withdrawing
    author's messages leave their recipients' rows in the same transaction
    (release_user); the row goes with its recipient. Messages loaded behind
    write's back (bulk imports) need their row set, or deleted so that the next
    write counts afresh.
    """

    _table_ = "message_totals"

    recipient = orm.PrimaryKey("User", reverse="message_totals", column="recipient_id")
    message_count = orm.Required(int, default=0)
    total_amount = orm.Required(int, size=64, default=0)


@dataclass(frozen=True)
class Totals:
    count: int
    amount: int


def write(recipient, author, text: str, amount: int, is_moneybag: bool) -> Message:
    """Leave `recipient` a message from `author`, under the money rules."""
    if is_moneybag:
        if not MONEYBAG_MIN <= amount <= MONEYBAG_MAX:
            raise InvalidInput(MONEYBAG_RANGE, details={"amount": MONEYBAG_RANGE})
    elif amount not in MONEY_UNITS:
        raise InvalidInput(NOT_MONEY_UNIT, details={"amount": NOT_MONEY_UNIT})
    # Counted before the message exists: a row created now counts only older messages.
    _count_in(recipient, amount)
    message = Message(
        recipient=recipient, author=author, message=text, amount=amount, is_moneybag=is_moneybag
    )
    orm.flush()  # the id is part of the answer
    return message


def totals(user) -> Totals:
    """How many messages `user` received and how much money: one row, whatever the count."""
    rows = db.select(
        "SELECT message_count, total_amount FROM message_totals WHERE recipient_id = $user",
        {},
        {"user": user.id},
    )
    if rows:
        return Totals(int(rows[0][0]), int(rows[0][1]))
    return _counted(user.id)


def _counted(user_id: int) -> Totals:
    # No row yet: nothing received since the counter exists; count what there is.
    count, amount = db.select(
        "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM messages WHERE recipient_id = $user",
        {},
        {"user": user_id},
    )[0]
    return Totals(int(count), int(amount))


# The totals row and one page of messages with each author's name, in one statement:
# one row per message (in no particular order), or one row of NULL message columns
# when the page is empty.
# The page reads only its rows, on the (recipient, id) index: ordering by the
# recipient too (one value) keeps a prepared statement's generic plan, which does not
# know whose page it reads, from walking the primary key backwards past every newer
# message of other users. A page past the last one reads none.
PAGE_SQL = """SELECT t.message_count, t.total_amount,
  p.id, p.message, p.amount, p.is_moneybag, p.username
FROM (SELECT 1 AS one) AS one
LEFT JOIN message_totals t ON t.recipient_id = $user
LEFT JOIN (
  SELECT m.id, m.message, m.amount, m.is_moneybag, u.username
  FROM messages m LEFT JOIN users u ON u.id = m.author_id
  WHERE m.recipient_id = $user
    AND $offset < (SELECT COALESCE(MAX(message_count), $offset + 1)
                   FROM message_totals WHERE recipient_id = $user)
  ORDER BY m.recipient_id DESC, m.id DESC
  LIMIT $limit OFFSET $offset
) AS p ON 1 = 1"""


def page_of(user_id: int, page: int) -> tuple[Totals, list[dict]]:
    """The recipient's totals and one page of their messages, newest first, as the list shows them.

    One statement, whatever the number of messages.
    """
    params = {"user": user_id, "limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE}
    rows = select_rows(PAGE_SQL, params)
    count, amount = rows[0][:2]
    # Sorted here: SQL keeps no subquery's order through a join (6 rows at most).
    page_rows = sorted((row[2:] for row in rows if row[2] is not None), reverse=True)
    items = [_as_dict(*row) for row in page_rows]
    if count is None:  # no totals row yet (see totals)
        return _counted(user_id), items
    return Totals(int(count), int(amount)), items


def last_page(count: int) -> int:
    return max(1, -(-count // PAGE_SIZE))


def received(user_id: int, message_id: int) -> Message:
    """A message the user received; one on anybody else's page is not found."""
    message = Message.get(lambda m: m.id == message_id and m.recipient.id == user_id)
    if message is None:
        raise NotFound(MESSAGE_NOT_FOUND)
    return message


def opening_text(open_at: datetime) -> str:
    """The date messages open, as the Korean client shows it (KST)."""
    local = open_at.astimezone(KST)
    minutes = f" {local.minute}분" if local.minute else ""
    return (
        f"쪽지는 {local.year}년 {local.month}월 {local.day}일 "
        f"{local.hour}시{minutes}부터 확인할 수 있습니다."
    )


def ensure_open(open_at: datetime | None, now: datetime | None = None) -> None:
    """Refuse to show messages before the opening instant (tz-aware; None = always open)."""
    if open_at is None:
        return
    now = now or datetime.now(UTC)
    if now < open_at:
        raise InvalidInput(opening_text(open_at))


def release_user(user) -> None:
    """Before an account is deleted: remove the messages it received and those it wrote.

    What a withdrawing user sent goes with them, as the app warns ("보냈던 세뱃돈과
    덕담은 사라집니다"), and each recipient's totals lose exactly what was removed.
    Set-based statements rather than Pony's cascade, which would load every
    message into memory and delete them one by one.
    """
    params = {"user": user.id}
    if db.provider.dialect == "PostgreSQL":
        # One statement: the totals lose exactly the rows deleted, even those a
        # concurrent request committed after the statement before it began.
        db.execute(_REMOVED_BY_AUTHOR + _SUBTRACT.format(source="removed"), params)
    else:
        # SQLite has one writer at a time: nothing commits between these two.
        db.execute(_SUBTRACT.format(source="messages WHERE author_id = $user"), params)
        db.execute("DELETE FROM messages WHERE author_id = $user", params)
    Message.select(lambda m: m.recipient == user).delete(bulk=True)
    db.execute("DELETE FROM message_totals WHERE recipient_id = $user", params)


_REMOVED_BY_AUTHOR = """WITH removed AS (
    DELETE FROM messages WHERE author_id = $user RETURNING recipient_id, amount
)
"""
# Recipients without a row yet count their messages when read (totals), so
# only existing rows need the subtraction.
_SUBTRACT = """UPDATE message_totals
SET message_count = message_count - lost.n, total_amount = total_amount - lost.amount
FROM (
    SELECT recipient_id, COUNT(*) AS n, SUM(amount) AS amount FROM {source} GROUP BY recipient_id
) AS lost
WHERE message_totals.recipient_id = lost.recipient_id"""


# The totals are written with plain SQL: Pony's cache of the User <-> MessageTotals
# relation would not notice a row that appears in the middle of a session.
def _count_in(recipient, amount: int) -> None:
    """Add one message of `amount` to the recipient's totals, creating the row if need be.

    The UPDATE is atomic and holds the row's lock (on SQLite, the write lock) until
    commit, so concurrent writes to one page queue on it and each adds its own.
    """
    params = {"recipient": recipient.id, "amount": amount}
    add = (
        "UPDATE message_totals SET message_count = message_count + 1,"
        " total_amount = total_amount + $amount WHERE recipient_id = $recipient"
    )
    if db.execute(add, {}, params).rowcount == 0:
        # Two first messages at once: one insert wins, the other does nothing and
        # then waits on the winner's lock before adding its own.
        db.execute(
            "INSERT INTO message_totals (recipient_id, message_count, total_amount)"
            " SELECT $recipient, COUNT(*), COALESCE(SUM(amount), 0)"
            " FROM messages WHERE recipient_id = $recipient"
            " ON CONFLICT DO NOTHING",
            {},
            params,
        )
        db.execute(add, {}, params)
