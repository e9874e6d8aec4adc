"""The caller query: a live session of its audience, the user's columns and premium at once."""

import uuid
from datetime import datetime, timedelta

import psycopg2
import pytest
from pony import orm

from models import caller, db, sessions
from models.clock import utcnow
from models.errors import AuthenticationFailed
from models.sessions import AuthSession
from models.subscriptions import Subscription
from models.users import User, create_user


@pytest.fixture
def user_id(config):
    with orm.db_session:
        return create_user("caller@example.com", "password1", "caller").id


def start(user_id, audience="zellyy"):
    with orm.db_session:
        return sessions.start_session(User[user_id], audience, 3600).session.id


def subscribe(user_id, status, end_date):
    now = utcnow()
    with orm.db_session:
        Subscription(
            user_id=user_id,
            plan_id="monthly",
            status=status,
            start_date=now - timedelta(days=30),
            end_date=end_date,
            anchor=now - timedelta(days=30),
            provider="stripe",
            customer_id=f"cus_{uuid.uuid4().hex}",
            payment_method_id="pm_card_visa",
        )


def test_a_live_session_of_the_audience_only(user_id):
    session_id = start(user_id, "zellyy")
    with orm.db_session:
        assert caller.find(session_id, "zellyy").id == user_id
        assert caller.find(session_id, "money-for-rabbit") is None
        assert caller.find(uuid.uuid4(), "zellyy") is None
        sessions.logout(AuthSession[session_id], "local")
    with orm.db_session:
        assert caller.find(session_id, "zellyy") is None


def test_one_statement_gives_the_columns_as_the_entity_holds_them(user_id):
    session_id = start(user_id)
    with orm.db_session:
        before = _statements()
        found = caller.find(session_id, "zellyy")
        after = _statements()
        sent = [sql for sql in after if sql and after[sql] != before.get(sql, 0)]
        # On PostgreSQL, PREPARE once per connection, then EXECUTE.
        run = [sql for sql in sent if not sql.startswith("PREPARE")]
        assert len(run) == 1 and after[run[0]] == before.get(run[0], 0) + 1
        user = User[user_id]
        for name in ("id", "public_id", "email", "username", "display_name", "avatar_url"):
            assert getattr(found, name) == getattr(user, name), name
        assert found.is_admin is False
        assert found.email_confirmed_at is None
        assert isinstance(found.created_at, datetime)
        assert abs(found.created_at - user.created_at) < timedelta(milliseconds=1)
        assert found.public_dict() == user.public_dict()
        assert found.premium_until is None
        assert found.session.id == session_id
        assert found.entity() is user


def _statements() -> dict:
    return {sql: stat.db_count for sql, stat in db.local_stats.items()}


def test_premium_is_the_current_subscription(user_id):
    session_id = start(user_id)
    now = utcnow().replace(microsecond=0)

    def premium():
        with orm.db_session:
            return caller.find(session_id, "zellyy").premium_until

    subscribe(user_id, "expired", now + timedelta(days=3))
    subscribe(user_id, "canceled", now - timedelta(days=1))
    assert premium() is None
    subscribe(user_id, "canceled", now + timedelta(days=2))
    subscribe(user_id, "canceled", now + timedelta(days=5))
    assert premium() == now + timedelta(days=5)  # the canceled one that ends last
    subscribe(user_id, "past_due", now + timedelta(days=1))
    assert premium() == now + timedelta(days=1)  # a held one comes first


def test_the_entity_of_a_caller_removed_since_is_refused(user_id):
    session_id = start(user_id)
    with orm.db_session:
        found = caller.find(session_id, "zellyy")
    with orm.db_session:
        User[user_id].delete()
    with orm.db_session, pytest.raises(AuthenticationFailed):
        found.entity()


def test_a_connection_replaced_after_a_loss_prepares_the_statement_again(config, user_id):
    if db.provider.dialect != "PostgreSQL":
        pytest.skip("prepared statements are PostgreSQL's")
    session_id = start(user_id)
    with orm.db_session:
        assert caller.find(session_id, "zellyy").id == user_id  # prepared on this connection
        backend = db.select("SELECT pg_backend_pid()")[0]
    admin = psycopg2.connect(config.database_url)
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", (backend,))
    finally:
        admin.close()
    with orm.db_session:  # Pony reconnects; the new connection has no prepared statement
        assert caller.find(session_id, "zellyy").id == user_id
        assert db.select("SELECT pg_backend_pid()")[0] != backend
        # Every connection keeps one plan per prepared statement (models.bind_args).
        assert db.select("current_setting('plan_cache_mode')") == ["force_generic_plan"]
