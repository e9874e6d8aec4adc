"""The kept message totals: equal to counting, under concurrency, through withdrawals."""

from __future__ import annotations

import threading
import uuid

import pytest
from helpers import at_once, wait_for
from pony import orm

from models import _prepared_forms, db, users
from models.errors import Conflict, InvalidInput
from models.messages import PAGE_SQL, Message, MessageTotals, page_of, totals, write
from models.users import User, create_user

THREADS = 6


def new_user(name: str = "u") -> int:
    with orm.db_session:
        user = create_user(f"{uuid.uuid4().hex}@example.com", "password1", name)
        orm.flush()
        return user.id


def kept(user_id: int) -> tuple[int, int] | None:
    with orm.db_session:
        rows = db.select(
            "SELECT message_count, total_amount FROM message_totals WHERE recipient_id = $u",
            {},
            {"u": user_id},
        )
        return (int(rows[0][0]), int(rows[0][1])) if rows else None


def counted(user_id: int) -> tuple[int, int]:
    with orm.db_session:
        count, amount = db.select(
            "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM messages WHERE recipient_id = $u",
            {},
            {"u": user_id},
        )[0]
        return int(count), int(amount)


def send(recipient_id: int, author_id: int, amount: int, is_moneybag: bool = False) -> None:
    with orm.db_session:
        write(User[recipient_id], User[author_id], "복 받아", amount, is_moneybag)


def test_totals_equal_counting_after_every_kind_of_amount(config):
    ann, bob = new_user(), new_user()
    assert kept(ann) is None
    for amount in (100, 500, 1000, 5000, 10000, 50000, 99999):
        send(ann, bob, amount)
        assert kept(ann) == counted(ann)
    for amount in (1, 7, 99999, 1_000_000):
        send(ann, bob, amount, is_moneybag=True)
        assert kept(ann) == counted(ann)
    send(ann, ann, 500)  # to oneself
    assert kept(ann) == counted(ann) == (12, 166_599 + 1_100_007 + 500)
    with orm.db_session:
        answer = totals(User[ann])
    assert (answer.count, answer.amount) == counted(ann)


def test_a_refused_amount_counts_nothing(config):
    ann, bob = new_user(), new_user()
    send(ann, bob, 100)
    with pytest.raises(InvalidInput), orm.db_session:
        write(User[ann], User[bob], "x", 123, False)
    assert kept(ann) == counted(ann) == (1, 100)


def test_the_row_starts_from_the_messages_already_there(config):
    ann, bob = new_user(), new_user()
    with orm.db_session:  # written behind write()'s back, as a bulk import would
        for amount in (100, 500):
            Message(recipient=User[ann], author=User[bob], message="old", amount=amount)
    with orm.db_session:
        assert totals(User[ann]).amount == 600  # counted while there is no row
    send(ann, bob, 1000)
    assert kept(ann) == counted(ann) == (3, 1600)


def withdraw(user_id: int) -> None:
    with orm.db_session:
        users.withdraw(User[user_id])


def test_a_withdrawing_authors_messages_leave_every_recipients_totals(config):
    ann, bob, cat, dan = new_user(), new_user(), new_user(), new_user()
    send(ann, bob, 10000)
    send(ann, bob, 12345, is_moneybag=True)
    send(ann, cat, 500)
    send(cat, bob, 100)
    send(bob, bob, 1000)  # to oneself
    send(bob, ann, 5000)
    with orm.db_session:  # written behind write()'s back: dan has no totals row
        Message(recipient=User[dan], author=User[bob], message="old", amount=50000)
    withdraw(bob)
    assert kept(ann) == counted(ann) == (1, 500)
    assert kept(cat) == counted(cat) == (0, 0)
    assert kept(bob) is None
    with orm.db_session:
        assert totals(User[dan]).count == 0
        assert orm.count(m for m in Message) == 1


def test_withdrawal_costs_the_same_statements_however_much_was_sent(config):
    """Set-based: nothing is loaded message by message."""

    def statements_to_withdraw(sent: int) -> int:
        ann, bob = new_user(), new_user()
        for _ in range(sent):
            send(ann, bob, 100)
            send(bob, ann, 100)
        with orm.db_session:
            user = User[bob]
            db.merge_local_stats()
            users.withdraw(user)
            count = sum(stat.db_count for stat in db.local_stats.values())
        assert kept(ann) == counted(ann) == (0, 0)
        return count

    assert statements_to_withdraw(1) == statements_to_withdraw(30)


def test_an_author_withdrawing_while_others_write_keeps_the_totals_right(config):
    ann, bob = new_user(), new_user()
    writers = [new_user() for _ in range(THREADS)]
    for _ in range(3):
        send(ann, bob, 1000)
    actions = [lambda w=w: send(ann, w, 500) for w in writers] + [lambda: withdraw(bob)]
    assert at_once(actions) == [None] * (THREADS + 1)
    assert kept(ann) == counted(ann) == (THREADS, THREADS * 500)


def test_an_author_withdrawing_while_sending_leaves_no_recipient_miscounted(config):
    """Either a message sent meanwhile goes with its author, or the withdrawal fails whole."""
    ann, bob = new_user(), new_user()
    fresh = [new_user() for _ in range(THREADS)]
    send(ann, bob, 1000)
    actions = [lambda r=r: send(r, bob, 500) for r in fresh] + [lambda: withdraw(bob)]
    # A send may find bob gone; the withdrawal may meet a new message: nothing else.
    expected = (type(None), orm.TransactionIntegrityError, orm.ObjectNotFound, Conflict)
    assert all(isinstance(result, expected) for result in at_once(actions))
    for recipient in [ann, *fresh]:
        assert kept(recipient) in (None, counted(recipient))
        assert counted(recipient)[0] <= 1


def test_a_withdrawn_recipient_takes_the_row_along(config):
    ann, bob, cat = new_user(), new_user(), new_user()
    send(ann, bob, 100)
    send(bob, ann, 500)
    send(bob, cat, 1000)
    withdraw(ann)
    with orm.db_session:
        rows = db.select("SELECT recipient_id FROM message_totals")
    assert list(rows) == [bob]
    assert kept(bob) == counted(bob) == (1, 1000)


def test_deleting_a_user_directly_cascades_to_the_row(config):
    ann, bob = new_user(), new_user()
    send(ann, bob, 100)
    with orm.db_session:
        User[ann].delete()
    with orm.db_session:
        assert MessageTotals.select().count() == 0


@pytest.mark.parametrize("first", [True, False], ids=["no-row-yet", "row-exists"])
def test_concurrent_writes_are_all_counted(config, first):
    ann = new_user()
    authors = [new_user() for _ in range(THREADS)]
    if not first:
        send(ann, authors[0], 100)
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def run(author: int, amount: int) -> None:
        try:
            with orm.db_session:
                recipient, writer = User[ann], User[author]
                barrier.wait(timeout=30)
                write(recipient, writer, "동시에", amount, True)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(author, 1000 + n)) for n, author in enumerate(authors)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    expected = sum(1000 + n for n in range(THREADS)) + (0 if first else 100)
    assert kept(ann) == counted(ann) == (THREADS + (0 if first else 1), expected)


def test_a_second_first_write_waits_for_the_first_and_adds_to_it(config):
    """On PostgreSQL: B's first message arrives while A's first is uncommitted."""
    if db.provider.dialect != "PostgreSQL":
        pytest.skip("SQLite has one writer at a time; the threads test covers it")
    ann, bob, cat = new_user(), new_user(), new_user()
    done = threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            send(ann, cat, 500)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    with orm.db_session:
        write(User[ann], User[bob], "먼저", 100, False)
        thread = threading.Thread(target=second)
        thread.start()
        wait_for(lambda: _waiting_on_a_lock() > 0, timeout=30)
        assert not done.is_set()
    thread.join(60)
    assert errors == []
    assert kept(ann) == counted(ann) == (2, 600)


def _waiting_on_a_lock() -> int:
    """Sessions of this database waiting on a lock (asked inside A's open transaction)."""
    with orm.db_session:
        db.select("pg_stat_clear_snapshot()")  # fresh figures, not the transaction's first
        return db.select(
            "SELECT COUNT(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )[0]


def test_the_totals_and_a_page_are_one_query_on_the_recipient_index(config):
    ann, bob = new_user(), new_user("밥")
    with orm.db_session:
        # The recipient's rows are a few among many, all older than the others.
        for n in range(300):
            Message(recipient=User[ann], author=User[bob], message=f"{n}", amount=100)
        for _ in range(3000):
            Message(recipient=User[bob], author=User[ann], message="x", amount=100)
        MessageTotals(recipient=User[ann], message_count=300, total_amount=30_000)
    if db.provider.dialect == "PostgreSQL":
        with orm.db_session:
            db.execute("ANALYZE")
    with orm.db_session:
        db.merge_local_stats()
        counted, page = page_of(ann, 2)
        statements = [sql for sql in db.local_stats if sql and not sql.startswith("PREPARE")]
        assert len(statements) == 1, statements
        assert (counted.count, counted.amount) == (300, 30_000)
        assert [m["message"] for m in page] == [str(n) for n in range(293, 287, -1)]
        assert all(m["author_name"] == "밥" for m in page)
        params = {"user": ann, "limit": 6, "offset": 6}
        if db.provider.dialect == "PostgreSQL":
            # The plan kept for the statement prepared by page_of, which knows no recipient.
            db.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            execute = _prepared_forms(PAGE_SQL)[2]
            rows = db.execute("EXPLAIN " + execute, {}, params).fetchall()
        else:
            rows = db.execute("EXPLAIN QUERY PLAN " + PAGE_SQL, {}, params).fetchall()
        plan = "\n".join(str(row[-1]) for row in rows)
    assert "idx_messages__recipient_id_id" in plan, plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan
