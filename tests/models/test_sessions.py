"""Sessions and refresh tokens in the model layer: hashing, rotation, revocation races."""

import threading
from datetime import timedelta

import pytest
from pony import orm

from models import sessions
from models.errors import AuthenticationFailed
from models.sessions import AuthSession, RefreshToken
from models.transaction import transaction
from models.users import create_user

TTL = 3600


@pytest.fixture
def user_id(config):
    with orm.db_session:
        return create_user("model@example.com", "password1", "model").id


def start(user_id, audience="zellyy"):
    from models.users import User

    with orm.db_session:
        issued = sessions.start_session(User[user_id], audience, TTL)
        return issued.session.id, issued.refresh_token


def test_only_a_hash_of_the_refresh_token_is_stored(user_id):
    session_id, token = start(user_id)
    with orm.db_session:
        stored = [row.token_hash for row in AuthSession[session_id].refresh_tokens]
    assert len(stored) == 1
    assert token not in stored[0]
    assert stored[0] == sessions._hash(token)
    assert len(stored[0]) == 64


def test_refresh_tokens_are_long_and_random(user_id):
    tokens = {start(user_id)[1] for _ in range(5)}
    assert len(tokens) == 5
    assert all(len(t) >= 43 for t in tokens)  # 32 random bytes


def test_rotation_spends_the_token_and_keeps_the_session(user_id):
    session_id, token = start(user_id)
    with orm.db_session:
        issued = sessions.rotate(token, "zellyy", TTL)
        assert issued.session.id == session_id
        new_token = issued.refresh_token
    with orm.db_session:
        spent = RefreshToken.get(token_hash=sessions._hash(token))
        assert spent.spent_at is not None
        fresh = RefreshToken.get(token_hash=sessions._hash(new_token))
        assert fresh.spent_at is None
        assert fresh.expires_at - fresh.created_at == timedelta(seconds=TTL)


def test_a_token_of_one_audience_does_not_rotate_in_the_other(user_id):
    _, token = start(user_id, "zellyy")
    with orm.db_session, pytest.raises(AuthenticationFailed) as caught:
        sessions.rotate(token, "money-for-rabbit", TTL)
    assert caught.value.key == "invalid"
    with orm.db_session:
        sessions.rotate(token, "zellyy", TTL)  # still unspent


def test_reuse_revokes_the_session_even_though_the_request_fails(user_id):
    session_id, token = start(user_id)
    with orm.db_session:
        sessions.rotate(token, "zellyy", TTL)
    with pytest.raises(AuthenticationFailed) as caught, transaction():
        sessions.rotate(token, "zellyy", TTL)
    assert caught.value.key == "refresh_reused"
    assert caught.value.keeps_changes
    with orm.db_session:
        assert AuthSession[session_id].revoked_at is not None


def test_revocations_that_race_do_not_fail(user_id):
    """A reused token revokes a session that a logout revokes at the same time."""
    session_id, token = start(user_id)
    with orm.db_session:
        sessions.rotate(token, "zellyy", TTL)

    loaded = threading.Event()
    revoked_elsewhere = threading.Event()
    errors = []

    def reuse():
        try:
            with orm.db_session:
                row = RefreshToken.get(token_hash=sessions._hash(token))
                assert row.session.revoked_at is None
                loaded.set()
                revoked_elsewhere.wait(10)
                with pytest.raises(AuthenticationFailed):
                    sessions.rotate(token, "zellyy", TTL)
        except Exception as ex:
            errors.append(ex)

    thread = threading.Thread(target=reuse)
    thread.start()
    assert loaded.wait(10)
    with orm.db_session:
        sessions.logout(AuthSession[session_id], "local")
    revoked_elsewhere.set()
    thread.join()
    assert errors == []
    with orm.db_session:
        assert AuthSession[session_id].revoked_at is not None


@pytest.mark.parametrize(
    "scope, ended", [("local", {"a"}), ("global", {"a", "b", "c"}), ("others", {"b", "c"})]
)
def test_logout_scopes(user_id, scope, ended):
    ids = {name: start(user_id)[0] for name in "abc"}
    with orm.db_session:
        count = sessions.logout(AuthSession[ids["a"]], scope)
    assert count == len(ended)
    with orm.db_session:
        still = {name for name, sid in ids.items() if AuthSession[sid].revoked_at is None}
    assert still == set("abc") - ended
